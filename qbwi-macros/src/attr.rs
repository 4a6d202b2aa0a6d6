//! The macro's options: `#[background_task(name = "...", timeout = "30s", concurrency = 4,
//! durable, retries = 5, backoff = "linear", retry_delay = "2s", crate = "...")]`.
//!
//! Every option is `key = value` except the flag `durable`. Adding one takes a keyword in [`kw`],
//! a field in [`Options`], a check fn, and one line in [`parse_list`] ([`Keys::set`] for a value,
//! [`Keys::flag`] for a flag).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Error, Expr, LitInt, LitStr, Path, Token};

use crate::duration;
use crate::errors::Errors;

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(concurrency);
    syn::custom_keyword!(durable);
    syn::custom_keyword!(retries);
    syn::custom_keyword!(backoff);
    syn::custom_keyword!(retry_delay);
    syn::custom_keyword!(cron);
    syn::custom_keyword!(timezone);
    syn::custom_keyword!(backfill);
    syn::custom_keyword!(unique);
    syn::custom_keyword!(unique_by);
    syn::custom_keyword!(unique_for);
    syn::custom_keyword!(on_conflict);
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
    /// `durable`: the task's jobs are stored, and retried as [`retry`](Self::retry) says.
    pub(crate) durable: bool,
    /// `retries = N` (durable tasks only).
    pub(crate) retries: Option<u32>,
    /// `backoff = "linear"` (durable tasks only).
    pub(crate) backoff: Option<Backoff>,
    /// `retry_delay = "2s"`, in milliseconds, at least 1 (durable tasks only).
    pub(crate) retry_delay_millis: Option<u64>,
    /// `crate = "path"`: where the `qbwi` crate is, for crates that re-export it.
    pub(crate) krate: Option<Path>,
    /// `cron = "0 3 * * *"`: the task runs on this schedule (checked: it parses and fires).
    pub(crate) cron: Option<LitStr>,
    /// `timezone = "Europe/Paris"`: the zone the schedule is read in (default UTC; cron only).
    pub(crate) timezone: Option<LitStr>,
    /// `backfill = "6h"`, in milliseconds: ticks missed within that long are run when a host
    /// starts (durable cron only).
    pub(crate) backfill_millis: Option<u64>,
    /// `unique`: at most one live job per value of every argument (durable only).
    pub(crate) unique: bool,
    /// `unique_by = [a, b]`: at most one live job per value of these arguments (durable only;
    /// checked against the fn's arguments by `expand`).
    pub(crate) unique_by: Option<Vec<syn::Ident>>,
    /// `unique_for = "1h"`, in milliseconds: the key stays taken that long after the enqueue.
    pub(crate) unique_for_millis: Option<u64>,
    /// `on_conflict = "replace"`: a duplicate's arguments replace the pending job's.
    pub(crate) replace: bool,
}

/// `unique_by = [a, b]`: the names in brackets.
pub(crate) struct Names(Vec<syn::Ident>, Span);

impl Parse for Names {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        let brackets = syn::bracketed!(content in input);
        let names =
            syn::punctuated::Punctuated::<syn::Ident, Token![,]>::parse_terminated(&content)?;
        Ok(Names(names.into_iter().collect(), brackets.span.join()))
    }
}

/// `backoff = "..."`: how the wait between a durable task's retries grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backoff {
    Exponential,
    Linear,
    Constant,
}

impl Backoff {
    /// The values `backoff = ".."` accepts, in the order its error lists them.
    const ALL: [(&'static str, Backoff); 3] = [
        ("exponential", Backoff::Exponential),
        ("linear", Backoff::Linear),
        ("constant", Backoff::Constant),
    ];

    /// The name of the `qbwi::Backoff` variant.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Backoff::Exponential => "Exponential",
            Backoff::Linear => "Linear",
            Backoff::Constant => "Constant",
        }
    }
}

/// A durable task's retry policy, the defaults filled in: what `qbwi::RetryPolicy::new` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retry {
    pub(crate) retries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) delay_millis: u64,
}

impl Retry {
    /// Without options: 3 retries, exponential from 1 s (`qbwi::RetryPolicy::DEFAULT`).
    const DEFAULT: Retry = Retry {
        retries: 3,
        backoff: Backoff::Exponential,
        delay_millis: 1_000,
    };
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

    /// The retry policy of a durable task; `None` for an in-memory one.
    pub(crate) fn retry(&self) -> Option<Retry> {
        self.durable.then(|| Retry {
            retries: self.retries.unwrap_or(Retry::DEFAULT.retries),
            backoff: self.backoff.unwrap_or(Retry::DEFAULT.backoff),
            delay_millis: self
                .retry_delay_millis
                .unwrap_or(Retry::DEFAULT.delay_millis),
        })
    }
}

impl Parse for Options {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut options = Options::default();
        let mut keys = Keys::default();
        match parse_list(input, &mut options, &mut keys) {
            Ok(()) => {
                keys.check_durable_only(&options);
                keys.check_cron_only(&options);
                keys.check_unique(&options);
            }
            // Stopped early: a `durable` further on may not have been seen.
            Err(error) => keys.errors.push(error),
        }
        keys.errors.finish(options)
    }
}

/// Parses `key = value, ...` into `options`. A syntax error stops it (returned); a bad value or a
/// repeated key is recorded in `keys.errors` and parsing goes on, so every such problem is
/// reported.
fn parse_list(input: ParseStream, options: &mut Options, keys: &mut Keys) -> syn::Result<()> {
    while !input.is_empty() {
        // `lookahead1` lists every key peeked below in its error: "expected one of: `name`, ...".
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            keys.set::<kw::name, _, _>(input, &mut options.name, task_name)?;
        } else if lookahead.peek(kw::timeout) {
            keys.set::<kw::timeout, _, _>(input, &mut options.timeout_millis, timeout)?;
        } else if lookahead.peek(kw::concurrency) {
            keys.set::<kw::concurrency, _, _>(input, &mut options.concurrency, concurrency)?;
        } else if lookahead.peek(kw::durable) {
            keys.flag::<kw::durable>(input, &mut options.durable)?;
        } else if lookahead.peek(kw::retries) {
            keys.set::<kw::retries, _, _>(input, &mut options.retries, retries)?;
        } else if lookahead.peek(kw::backoff) {
            keys.set::<kw::backoff, _, _>(input, &mut options.backoff, backoff)?;
        } else if lookahead.peek(kw::retry_delay) {
            keys.set::<kw::retry_delay, _, _>(input, &mut options.retry_delay_millis, retry_delay)?;
        } else if lookahead.peek(kw::cron) {
            keys.set::<kw::cron, _, _>(input, &mut options.cron, crate::schedule::cron)?;
        } else if lookahead.peek(kw::timezone) {
            keys.set::<kw::timezone, _, _>(
                input,
                &mut options.timezone,
                crate::schedule::timezone,
            )?;
        } else if lookahead.peek(kw::backfill) {
            keys.set::<kw::backfill, _, _>(input, &mut options.backfill_millis, backfill)?;
        } else if lookahead.peek(kw::unique_by) {
            keys.set::<kw::unique_by, _, _>(input, &mut options.unique_by, unique_by)?;
        } else if lookahead.peek(kw::unique_for) {
            keys.set::<kw::unique_for, _, _>(input, &mut options.unique_for_millis, unique_for)?;
        } else if lookahead.peek(kw::unique) {
            keys.flag::<kw::unique>(input, &mut options.unique)?;
        } else if lookahead.peek(kw::on_conflict) {
            let mut replace = None;
            keys.set::<kw::on_conflict, _, _>(input, &mut replace, on_conflict)?;
            options.replace = replace.unwrap_or(false);
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

/// The keys seen so far (with where each was written), and the problems found.
#[derive(Default)]
struct Keys {
    seen: Vec<(String, Span)>,
    errors: Errors,
}

impl Keys {
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
        if self.first(&key) {
            match check(value) {
                Ok(value) => *slot = Some(value),
                Err(error) => self.errors.push(error),
            }
        }
        Ok(())
    }

    /// Parses the flag `key` and sets `slot`. A value (`durable = true`) is an error on the value,
    /// and the flag counts as given, so the options that need it are not reported too.
    fn flag<K>(&mut self, input: ParseStream, slot: &mut bool) -> syn::Result<()>
    where
        K: Parse + ToTokens,
    {
        let key: K = input.parse()?;
        let name = key.to_token_stream().to_string();
        if input.peek(Token![=]) {
            let eq: Token![=] = input.parse()?;
            let value: Expr = input.parse()?;
            self.errors.spanned(
                quote!(#eq #value),
                format!(
                    "`{name}` takes no value: write `{name}` alone to make the task durable, or \
                     leave it out for an in-memory task"
                ),
            );
        }
        if self.first(&key) {
            *slot = true;
        }
        Ok(())
    }

    /// Records `key`; `false`, with an error on it, if it was given before.
    fn first(&mut self, key: &impl ToTokens) -> bool {
        let name = key.to_token_stream().to_string();
        if self.seen.iter().any(|(seen, _)| *seen == name) {
            self.errors.spanned(
                key,
                format!("the `{name}` option is given twice: remove one of them"),
            );
            return false;
        }
        self.seen.push((name, key.span()));
        true
    }

    /// Where `key` was given, if it was.
    fn span_of(&self, key: &str) -> Option<Span> {
        self.seen
            .iter()
            .find(|(seen, _)| seen == key)
            .map(|(_, span)| *span)
    }

    /// `timezone` and `backfill` without `cron` are errors on their keys, and so is `backfill`
    /// without `durable`: an in-memory host keeps no record of the ticks it missed.
    fn check_cron_only(&mut self, options: &Options) {
        if options.cron.is_none() {
            for (key, example) in [
                ("timezone", "timezone = \"Europe/Paris\""),
                ("backfill", "backfill = \"6h\""),
            ] {
                if let Some(span) = self.span_of(key) {
                    self.errors.push(Error::new(
                        span,
                        format!(
                            "`{key}` applies to scheduled tasks only: add a schedule, as in \
                             `#[background_task(cron = \"0 3 * * *\", {example})]`"
                        ),
                    ));
                }
            }
        } else if !options.durable
            && let Some(span) = self.span_of("backfill")
        {
            self.errors.push(Error::new(
                span,
                "`backfill` applies to durable scheduled tasks only: an in-memory task's host \
                 keeps no record of the ticks it missed while it was down; add `durable` (its \
                 store keeps the last tick), or remove `backfill`",
            ));
        }
    }

    /// The unique options: durable only, `unique` or `unique_by` (not both) before the others,
    /// and not on a scheduled task (its ticks are unique already).
    fn check_unique(&mut self, options: &Options) {
        let keyed = options.unique || options.unique_by.is_some();
        if let (true, Some(span)) = (options.unique, self.span_of("unique_by")) {
            self.errors.push(Error::new(
                span,
                "`unique` makes every argument the key already: remove `unique_by`, or remove \
                 `unique` to key on the arguments `unique_by` names",
            ));
        }
        for (key, example) in [
            ("unique", "unique"),
            ("unique_by", "unique_by = [user_id]"),
            ("unique_for", "unique, unique_for = \"1h\""),
            ("on_conflict", "unique, on_conflict = \"replace\""),
        ] {
            let Some(span) = self.span_of(key) else {
                continue;
            };
            if !options.durable {
                self.errors.push(Error::new(
                    span,
                    format!(
                        "`{key}` applies to durable tasks only (the store's unique index keeps one \
                         job per key): add `durable`, as in `#[background_task(durable, {example})]`"
                    ),
                ));
            } else if options.cron.is_some() {
                self.errors.push(Error::new(
                    span,
                    format!(
                        "`{key}` does not apply to a scheduled task: each tick is one job \
                         already; remove `{key}`"
                    ),
                ));
            } else if !keyed && (key == "unique_for" || key == "on_conflict") {
                self.errors.push(Error::new(
                    span,
                    format!(
                        "`{key}` applies to unique tasks: add `unique` (every argument is the \
                         key) or `unique_by = [..]` (the arguments named), as in \
                         `#[background_task(durable, {example})]`"
                    ),
                ));
            }
        }
    }

    /// The retry options without `durable` are errors on their keys: an in-memory task is never
    /// retried.
    fn check_durable_only(&mut self, options: &Options) {
        if options.durable {
            return;
        }
        for (key, example) in [
            ("retries", "retries = 3"),
            ("backoff", "backoff = \"linear\""),
            ("retry_delay", "retry_delay = \"5s\""),
        ] {
            if let Some((_, span)) = self.seen.iter().find(|(seen, _)| seen == key) {
                self.errors.push(Error::new(
                    *span,
                    format!(
                        "`{key}` applies to durable tasks only: add `durable`, as in \
                         `#[background_task(durable, {example})]`"
                    ),
                ));
            }
        }
    }
}

fn task_name(name: LitStr) -> syn::Result<LitStr> {
    let value = name.value();
    if value.trim().is_empty() {
        return Err(Error::new(
            name.span(),
            "the task name is empty: write one such as `name = \"mail::send_welcome\"`, or \
             remove `name` to use `<module path>::<fn name>`",
        ));
    }
    if value.contains('\0') {
        // A durable job is stored under its task's name, and a host refuses such a name anyway.
        return Err(Error::new(
            name.span(),
            "the task name contains a NUL byte (`\\0`), which PostgreSQL cannot store in text \
             (a durable task's jobs are stored under its name): remove the NUL byte",
        ));
    }
    Ok(name)
}

fn timeout(text: LitStr) -> syn::Result<u64> {
    match duration_millis(&text, "timeout")? {
        0 => Err(Error::new(
            text.span(),
            "the timeout is zero, so every run would time out at once; remove the option for no \
             timeout",
        )),
        millis => Ok(millis),
    }
}

fn retry_delay(text: LitStr) -> syn::Result<u64> {
    match duration_millis(&text, "retry delay")? {
        0 => Err(Error::new(
            text.span(),
            "the retry delay is zero, so a failed run would be retried at once, with no time for \
             what failed to recover; write at least \"1ms\", or remove the option for the \
             default \"1s\"",
        )),
        millis => Ok(millis),
    }
}

/// A duration option's value in milliseconds; `what` names it in the error.
fn duration_millis(text: &LitStr, what: &str) -> syn::Result<u64> {
    duration::parse_millis(&text.value()).map_err(|problem| {
        Error::new(
            text.span(),
            format!("malformed {what}: {problem}; {}", duration::FORMAT),
        )
    })
}

fn backfill(text: LitStr) -> syn::Result<u64> {
    match duration_millis(&text, "backfill")? {
        0 => Err(Error::new(
            text.span(),
            "the backfill window is zero, which is the default (missed ticks are skipped): \
             remove the option, or write how far back a starting host runs missed ticks, such \
             as \"6h\"",
        )),
        millis => Ok(millis),
    }
}

fn unique_by(names: Names) -> syn::Result<Vec<syn::Ident>> {
    if names.0.is_empty() {
        return Err(Error::new(
            names.1,
            "`unique_by` names no argument: list the arguments that make two jobs the same, as \
             in `unique_by = [user_id]`, or write `unique` to key on every argument",
        ));
    }
    Ok(names.0)
}

fn unique_for(text: LitStr) -> syn::Result<u64> {
    match duration_millis(&text, "unique_for")? {
        0 => Err(Error::new(
            text.span(),
            "`unique_for` is zero, which is the default (the key is taken while the job is live): \
             remove the option, or write how long the key stays taken after the enqueue, such as \
             \"1h\"",
        )),
        millis => Ok(millis),
    }
}

fn on_conflict(text: LitStr) -> syn::Result<bool> {
    match text.value().as_str() {
        "skip" => Ok(false),
        "replace" => Ok(true),
        other => Err(Error::new(
            text.span(),
            format!(
                "unknown `on_conflict = \"{other}\"`: write \"skip\" (the default: a duplicate \
                 leaves the job that holds the key as it is) or \"replace\" (a duplicate's \
                 arguments and run time replace the pending job's: a debounce)"
            ),
        )),
    }
}

fn retries(count: LitInt) -> syn::Result<u32> {
    count.base10_parse::<u32>().map_err(|_| {
        Error::new(
            count.span(),
            "`retries` is how many times a failed run is retried: a whole number from 0 to \
             4294967295, such as `retries = 5`",
        )
    })
}

fn backoff(text: LitStr) -> syn::Result<Backoff> {
    let value = text.value();
    Backoff::ALL
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, backoff)| *backoff)
        .ok_or_else(|| {
            Error::new(
                text.span(),
                format!(
                    "unknown backoff `{value}`: write \"exponential\" (the default: each wait \
                     twice the one before), \"linear\" (the first wait, then twice it, three \
                     times it, ..) or \"constant\" (the same wait every time)"
                ),
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

    use super::{Backoff, Options, Retry};

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
        assert_eq!(options.retry(), None);
    }

    #[test]
    fn durable_takes_its_retry_options_with_defaults() {
        let retry = |args| syn::parse2::<Options>(args).unwrap().retry();
        assert_eq!(retry(quote!(durable)), Some(Retry::DEFAULT));
        assert_eq!(
            retry(quote!(
                retry_delay = "250ms",
                durable,
                backoff = "constant",
                retries = 0,
            )),
            Some(Retry {
                retries: 0,
                backoff: Backoff::Constant,
                delay_millis: 250,
            })
        );
        assert_eq!(
            retry(quote!(durable, backoff = "linear")),
            Some(Retry {
                backoff: Backoff::Linear,
                ..Retry::DEFAULT
            })
        );
    }

    #[test]
    fn retry_options_need_durable() {
        let found = messages(quote!(retries = 3, timeout = "1s", backoff = "linear"));
        assert_eq!(
            found,
            [
                "`retries` applies to durable tasks only: add `durable`, as in \
                 `#[background_task(durable, retries = 3)]`",
                "`backoff` applies to durable tasks only: add `durable`, as in \
                 `#[background_task(durable, backoff = \"linear\")]`",
            ]
        );
    }

    #[test]
    fn durable_is_a_flag_given_once() {
        let found = messages(quote!(durable = true, retries = 1, durable));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("`durable` takes no value"),
            "{found:#?}"
        );
        assert_eq!(
            found[1],
            "the `durable` option is given twice: remove one of them"
        );
    }

    #[test]
    fn rejects_bad_retry_values() {
        let found = messages(quote!(
            durable,
            backoff = "fast",
            retry_delay = "0s",
            retry_delay = "1s",
            retries = 99999999999
        ));
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].starts_with("unknown backoff `fast`: write \"exponential\""));
        assert!(found[1].starts_with("the retry delay is zero"));
        assert_eq!(
            found[2],
            "the `retry_delay` option is given twice: remove one of them"
        );
        assert!(found[3].starts_with("`retries` is how many times"));
        let found = messages(quote!(durable, retry_delay = "soon"));
        assert!(found[0].starts_with("malformed retry delay: expected a number at `soon`"));
    }

    #[test]
    fn unknown_option_lists_the_valid_ones() {
        assert_eq!(
            messages(quote!(retry = 3)),
            [
                "expected one of: `name`, `timeout`, `concurrency`, `durable`, `retries`, \
                 `backoff`, `retry_delay`, `cron`, `timezone`, `backfill`, `unique_by`, \
                 `unique_for`, `unique`, `on_conflict`, `crate`"
            ]
        );
    }

    #[test]
    fn reports_every_bad_value_and_duplicate_at_once() {
        let found = messages(quote!(
            timeout = "soon",
            concurrency = 0,
            name = "",
            timeout = "1s",
            name = "x",
            timeout = "0ms"
        ));
        assert_eq!(found.len(), 6, "{found:#?}");
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
        assert_eq!(
            found[5],
            "the `timeout` option is given twice: remove one of them"
        );
        assert!(messages(quote!(timeout = "0s"))[0].starts_with("the timeout is zero"));
    }

    #[test]
    fn a_name_with_a_nul_byte_is_refused() {
        let found = messages(quote!(name = "mail\0send"));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("the task name contains a NUL byte"),
            "{found:#?}"
        );
        assert!(found[0].contains("PostgreSQL"), "{found:#?}");
        assert!(found[0].ends_with("remove the NUL byte"), "{found:#?}");
    }

    #[test]
    fn a_syntax_error_keeps_the_problems_found_before_it() {
        let found = messages(quote!(concurrency = 0, timeout 5));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[1], "expected `=`");
    }
}
