//! The token every write carries. Each browser gets a random token in a cookie (`HttpOnly`,
//! `SameSite=Strict`) the first time it loads a page; pages carry it in
//! `<meta name="qbwi-csrf">` and in their forms; a POST must send it back (header `x-qbwi-csrf`
//! or form field `csrf`) along with the cookie, compared in constant time. Another site can make
//! the browser send the cookie, but cannot read the token.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

use super::access::same;

/// The cookie's name.
pub(super) const COOKIE_NAME: &str = "qbwi_csrf";

/// The request's token (from its cookie), if it has one.
pub(super) fn of_request(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A new token: 32 random bytes, as hex.
pub(super) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's generator; without it there is no safe token to make.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The `Set-Cookie` value for `token`.
pub(super) fn cookie(token: &str) -> String {
    format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict")
}

/// Whether a POST carries the token of its cookie, in the header or in `form_token`.
pub(super) fn verified(headers: &HeaderMap, form_token: Option<&str>) -> bool {
    let Some(expected) = of_request(headers) else {
        return false;
    };
    let given = headers
        .get("x-qbwi-csrf")
        .and_then(|value| value.to_str().ok())
        .or(form_token);
    given.is_some_and(|given| same(given.as_bytes(), expected.as_bytes()))
}
