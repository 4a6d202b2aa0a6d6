//! Who may see the dashboard and who may act: the app's `authorize`, else basic auth, else a
//! bearer token, else loopback peers only (read from axum's `ConnectInfo`). Secrets are compared
//! in constant time.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::Settings;

/// What a request may do on the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// See everything and act (retry, delete, cancel, pause, resume).
    Full,
    /// See everything, act on nothing: no buttons, every POST is 403.
    ReadOnly,
    /// Nothing: 401.
    Denied,
}

/// Whether `given` equals `expected`, in time that does not depend on where they differ.
pub(super) fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && bool::from(given.ct_eq(expected))
}

/// The access of a request, or the response that refuses it.
pub(super) fn check(settings: &Settings, parts: &Parts) -> Result<Access, Box<Response>> {
    let access = if let Some(decide) = &settings.authorize {
        decide(parts)
    } else if let Some((user, password)) = &settings.basic {
        let given = credentials(parts, "Basic ").and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        });
        let expected = format!("{user}:{password}");
        match given {
            Some(given) if same(&given, expected.as_bytes()) => Access::Full,
            _ => {
                let mut refused = (
                    StatusCode::UNAUTHORIZED,
                    "the qbwi dashboard needs a user name and password",
                )
                    .into_response();
                refused.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"qbwi\", charset=\"UTF-8\""),
                );
                return Err(Box::new(refused));
            }
        }
    } else if let Some(token) = &settings.bearer {
        match credentials(parts, "Bearer ") {
            Some(given) if same(given.as_bytes(), token.as_bytes()) => Access::Full,
            _ => Access::Denied,
        }
    } else {
        return match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) if peer.ip().is_loopback() => {
                Ok(full_or_read_only(settings, Access::Full))
            }
            Some(_) => Err(Box::new((
                StatusCode::FORBIDDEN,
                "the qbwi dashboard answers only this machine (loopback) unless authentication is \
                 configured: use Dashboard::basic_auth, bearer_token or authorize",
            )
                .into_response())),
            None => Err(Box::new((
                StatusCode::FORBIDDEN,
                "the qbwi dashboard cannot tell who is asking: serve the app with \
                 `into_make_service_with_connect_info::<SocketAddr>()`, or configure \
                 authentication (Dashboard::basic_auth, bearer_token or authorize)",
            )
                .into_response())),
        };
    };
    match access {
        Access::Denied => Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                "not allowed on the qbwi dashboard",
            )
                .into_response(),
        )),
        access => Ok(full_or_read_only(settings, access)),
    }
}

/// `access`, read-only if the dashboard is.
fn full_or_read_only(settings: &Settings, access: Access) -> Access {
    if settings.read_only {
        Access::ReadOnly
    } else {
        access
    }
}

/// The credentials after `scheme` in the `Authorization` header.
fn credentials<'a>(parts: &'a Parts, scheme: &str) -> Option<&'a str> {
    let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    header.strip_prefix(scheme).map(str::trim)
}
