//! Procedural macros for qbwi; use them through the `qbwi` crate.

use proc_macro::TokenStream;

mod arg_type;
mod attr;
mod duration;
mod errors;
mod expand;
mod validate;

/// Placeholder docs.
#[proc_macro_attribute]
pub fn background_task(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand::background_task(args.into(), item.clone().into()) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let mut tokens = item;
            tokens.extend(TokenStream::from(error.into_compile_error()));
            tokens
        }
    }
}
