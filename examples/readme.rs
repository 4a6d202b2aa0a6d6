//! The README's Rust code, compiled as doctests of this package (`cargo test -p qbwi-examples
//! --doc`), so that what the README shows is what works. The package has axum and the stores,
//! which the README's examples use; nothing else lives here.
#![doc = include_str!("../README.md")]
