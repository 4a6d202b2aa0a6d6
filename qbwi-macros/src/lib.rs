//! Procedural macros for qbwi; use them through the `qbwi` crate.
use proc_macro::TokenStream;

/// Placeholder.
#[proc_macro_attribute]
pub fn background_task(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
