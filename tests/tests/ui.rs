//! trybuild UI tests of `#[background_task]`: `ui/pass` must compile (and their `main`s run),
//! `ui/fail` must fail with the errors in their `.stderr` files.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p qbwi-tests --test ui`,
//! then read each one: an error must point at the offending token and say what to write instead.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
