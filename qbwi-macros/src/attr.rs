//! The macro's options: `#[background_task(name = "...", timeout = "30s", concurrency = 4,
//! crate = "...")]`.
//!
//! Every option is `key = value`. Adding one takes a keyword in [`kw`], a field in [`Options`],
//! a check fn, and one line in [`parse_list`]. A flag such as the coming `durable` would get a
//! `Keys::flag` beside [`Keys::set`].

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Error, LitInt, LitStr, Path, Token};

use crate::duration;
use crate::errors::Errors;

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(concurrency);
}

/// The options, each checked; `None` when not given.
#[derive(Default)]
pub(crate) struct Options {
    /// `name = "..."`: the task's name instead of `<module path>::<fn name>`.
    pub(crate) name: Option<LitStr>,
    /// `timeout = "30s"`, in milliseconds (at least 1).
    pub(crate) timeout_millis: Option<u64>,
    /// `concurrency = N`, at least 1.
    pub(crate) concurrency: Option<usize>,
    /// `crate = "path"`: where the `qbwi` crate is, for crates that re-export it.
    pub(crate) krate: Option<Path>,
}

impl Options {
    /// The path of the `qbwi` crate: `::qbwi` unless `crate = "..."` says otherwise.
    pub(crate) fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::qbwi),
        }
    }

    /// [`krate`](Self::krate) as text, for intra-doc links in generated docs.
    pub(crate) fn krate_text(&self) -> String {
        self.krate().to_string().replace(' ', "")
    }
}

impl Parse for Options {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut options = Options::default();
        let mut errors = Errors::default();
        if let Err(error) = parse_list(input, &mut options, &mut errors) {
            errors.push(error);
        }
        errors.finish(options)
    }
}

/// Parses `key = value, ...` into `options`. A syntax error stops it (returned); a bad value or a
/// repeated key is recorded in `errors` and parsing goes on, so every such problem is reported.
fn parse_list(input: ParseStream, options: &mut Options, errors: &mut Errors) -> syn::Result<()> {
    let mut keys = Keys {
        seen: Vec::new(),
        errors,
    };
    while !input.is_empty() {
        // `lookahead1` lists every key peeked below in its error: "expected one of: `name`, ...".
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            keys.set::<kw::name, _, _>(input, &mut options.name, task_name)?;
        } else if lookahead.peek(kw::timeout) {
            keys.set::<kw::timeout, _, _>(input, &mut options.timeout_millis, timeout)?;
        } else if lookahead.peek(kw::concurrency) {
            keys.set::<kw::concurrency, _, _>(input, &mut options.concurrency, concurrency)?;
        } else if lookahead.peek(Token![crate]) {
            keys.set::<Token![crate], _, _>(input, &mut options.krate, crate_path)?;
        } else {
            return Err(lookahead.error());
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

/// The keys seen so far, and where problems go.
struct Keys<'a> {
    seen: Vec<String>,
    errors: &'a mut Errors,
}

impl Keys<'_> {
    /// Parses `key = value` into `slot` once `check` accepts the value. A repeated key is an error
    /// on its second occurrence (the first value stays).
    fn set<K, V, T>(
        &mut self,
        input: ParseStream,
        slot: &mut Option<T>,
        check: fn(V) -> syn::Result<T>,
    ) -> syn::Result<()>
    where
        K: Parse + ToTokens,
        V: Parse,
    {
        let key: K = input.parse()?;
        input.parse::<Token![=]>()?;
        let value: V = input.parse()?;
        let name = key.to_token_stream().to_string();
        if self.seen.contains(&name) {
            self.errors.spanned(
                &key,
                format!("the `{name}` option is given twice: remove one of them"),
            );
        } else {
            self.seen.push(name);
            match check(value) {
                Ok(value) => *slot = Some(value),
                Err(error) => self.errors.push(error),
            }
        }
        Ok(())
    }
}

fn task_name(name: LitStr) -> syn::Result<LitStr> {
    if name.value().trim().is_empty() {
        return Err(Error::new(
            name.span(),
            "the task name is empty: write one such as `name = \"mail::send_welcome\"`, or \
             remove `name` to use `<module path>::<fn name>`",
        ));
    }
    Ok(name)
}

fn timeout(text: LitStr) -> syn::Result<u64> {
    duration::parse_millis(&text.value()).map_err(|problem| {
        Error::new(
            text.span(),
            format!("malformed timeout: {problem}; {}", duration::FORMAT),
        )
    })
}

fn concurrency(limit: LitInt) -> syn::Result<usize> {
    match limit.base10_parse::<usize>()? {
        0 => Err(Error::new(
            limit.span(),
            "`concurrency` must be at least 1: it is how many runs of this task may be in \
             progress at once; remove the option for no limit",
        )),
        limit => Ok(limit),
    }
}

fn crate_path(path: LitStr) -> syn::Result<Path> {
    path.parse::<Path>().map_err(|_| {
        Error::new(
            path.span(),
            "`crate` must be the path of the qbwi crate, such as `crate = \"::qbwi\"` or \
             `crate = \"my_framework::qbwi\"`",
        )
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::Options;

    fn messages(args: proc_macro2::TokenStream) -> Vec<String> {
        match syn::parse2::<Options>(args) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|error| error.to_string()).collect(),
        }
    }

    #[test]
    fn parses_every_option_in_any_order() {
        let options = syn::parse2::<Options>(quote!(
            concurrency = 3,
            crate = "crate::reexport::qbwi",
            timeout = "1m30s",
            name = "a::b",
        ))
        .unwrap();
        assert_eq!(
            options.name.as_ref().map(syn::LitStr::value).as_deref(),
            Some("a::b")
        );
        assert_eq!(options.timeout_millis, Some(90_000));
        assert_eq!(options.concurrency, Some(3));
        assert_eq!(options.krate_text(), "crate::reexport::qbwi");
        assert_eq!(
            syn::parse2::<Options>(quote!()).unwrap().krate_text(),
            "::qbwi"
        );
    }

    #[test]
    fn unknown_option_lists_the_valid_ones() {
        assert_eq!(
            messages(quote!(durable)),
            ["expected one of: `name`, `timeout`, `concurrency`, `crate`"]
        );
    }

    #[test]
    fn reports_every_bad_value_and_duplicate_at_once() {
        let found = messages(quote!(
            timeout = "soon",
            concurrency = 0,
            name = "",
            timeout = "1s",
            name = "x"
        ));
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("malformed timeout"));
        assert!(found[1].starts_with("`concurrency` must be at least 1"));
        assert!(found[2].starts_with("the task name is empty"));
        assert_eq!(
            found[3],
            "the `timeout` option is given twice: remove one of them"
        );
        assert_eq!(
            found[4],
            "the `name` option is given twice: remove one of them"
        );
    }

    #[test]
    fn a_syntax_error_keeps_the_problems_found_before_it() {
        let found = messages(quote!(concurrency = 0, timeout 5));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[1], "expected `=`");
    }
}
