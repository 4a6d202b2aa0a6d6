//! Emits the task: the fn unchanged, the checks of its arguments (`contract.rs`), a struct of its
//! arguments, `queue` / `queue_on`, the `BackgroundTask` impl and the registry entry; for a
//! durable task also what `durable.rs` adds.
//!
//! Every path is absolute (`::core::..`, `<crate>::..`) and every generated local has a `__qbwi`
//! name, so nothing the user's module defines (a `Result`, a `mod qbwi`) can change what the
//! generated code means. Helpers sit inside `const _: () = { .. };`.

use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Error, Ident, Item, ItemFn, LitStr, ReturnType};

use crate::attr::Options;
use crate::contract;
use crate::docs;
use crate::durable;
use crate::errors;
use crate::validate::{self, Param, TaskFn};

/// The macro: `Ok(tokens)`, or every problem found (the shim then emits the fn unchanged beside
/// the errors, so one mistake does not also break every caller of the fn).
pub(crate) fn background_task(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = syn::parse2::<Options>(args);
    // Options that do not parse say nothing of `durable` or `cron`: the fn is checked as an
    // in-memory task that runs when queued.
    let durable = options.as_ref().is_ok_and(|options| options.durable);
    let scheduled = options.as_ref().is_ok_and(|options| options.cron.is_some());
    let task = parse_fn(item).and_then(|item| validate::task_fn(item, durable, scheduled));
    let (options, task) = errors::both(options, task)?;
    check_unique_by(&options, &task)?;
    Ok(expand(&options, &task))
}

/// Each name of `unique_by = [..]` is a stored argument of the fn (not its token, not a `State`).
fn check_unique_by(options: &Options, task: &TaskFn) -> syn::Result<()> {
    let Some(names) = &options.unique_by else {
        return Ok(());
    };
    let mut problems = errors::Errors::default();
    let fields: Vec<String> = task
        .fields
        .iter()
        .map(|field| field.ident.unraw().to_string())
        .collect();
    for name in names {
        if fields.contains(&name.unraw().to_string()) {
            continue;
        }
        let listed = if fields.is_empty() {
            "it stores no argument, so write `unique` (one job of the task at a time)".to_owned()
        } else {
            let fields: Vec<String> = fields.iter().map(|field| format!("`{field}`")).collect();
            format!("its stored arguments are {}", fields.join(", "))
        };
        problems.spanned(
            name,
            format!(
                "`unique_by` names `{name}`, which is not a stored argument of `{}`: {listed}",
                task.item.sig.ident
            ),
        );
    }
    problems.finish(())
}

fn parse_fn(item: TokenStream) -> syn::Result<ItemFn> {
    match syn::parse2::<Item>(item)? {
        Item::Fn(item) => Ok(item),
        _ => Err(Error::new(
            Span::call_site(),
            "`#[background_task]` goes on a free fn: an `async fn` for async work, or a plain \
             `fn` for blocking work, such as `async fn send_mail(email: String) -> Result<(), \
             MailError>`",
        )),
    }
}

fn expand(options: &Options, task: &TaskFn) -> TokenStream {
    let krate = options.krate();
    let item = &task.item;
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let cfgs: Vec<&Attribute> = attrs_named(item, "cfg").collect();
    let docs = attrs_named(item, "doc");
    // A deprecated fn makes a deprecated task: `send_mail::queue(..)` warns its callers. The
    // generated code itself uses the fn and the struct, so it allows `deprecated`.
    let deprecated = attrs_named(item, "deprecated");
    let field_idents: Vec<&Ident> = task.fields.iter().map(|field| &field.ident).collect();
    let field_tys: Vec<_> = task.fields.iter().map(|field| &field.ty).collect();

    let retry = options.retry();
    let durable = retry.is_some();

    let fn_name = ident.unraw().to_string();
    let has_docs = attrs_named(item, "doc").next().is_some();
    let struct_doc = docs::task_struct(ident, has_docs, durable, !task.states.is_empty());
    let field_docs = field_idents.iter().map(|field| docs::field(ident, field));
    let host = free_name(&field_idents, ["host", "on_host", "qbwi_host"]);
    let krate_text = options.krate_text();
    let queue_doc = docs::queue(ident, &krate_text, None, durable);
    let queue_on_doc = docs::queue(ident, &krate_text, Some(&host), durable);
    // A durable task's `queue` hands the job to the host's writer instead of running it.
    // Through the public method, so that a task that is not a `BackgroundTask` (an argument that
    // is not `Send`) is reported in its words, once for both fns.
    let queue_method = match retry {
        Some(_) => quote!(#krate::Host::queue_durable),
        None => quote!(#krate::Host::queue),
    };

    // Each contract of the signature checked on its type, and assumed by the impls.
    let checks = contract::checks(task, &krate);
    let assumptions = contract::assumptions(task);
    // The registry lists the states, so that a host checks at start that it has them.
    let (state_types, states_entry) = if task.states.is_empty() {
        (None, None)
    } else {
        let inners = task.states.iter().map(|state| &state.inner);
        let types = quote! {
            const __QBWI_STATES: &[#krate::__private::StateType] =
                &[#(#krate::__private::StateType::of::<#inners>()),*];
        };
        (Some(types), Some(quote!(.__states(__QBWI_STATES))))
    };
    let unique = durable::unique(options, task, &krate);
    let enqueue_fns = retry.map(|retry| {
        durable::enqueue_fns(task, retry, &krate, &krate_text, unique.enqueue_fn.clone())
    });
    let impl_durable_task = retry.map(|retry| {
        durable::impl_durable_task(task, retry, &krate, &assumptions, unique.key_fn.clone())
    });
    let durable_entry =
        durable.then(|| quote!(.__durable(#krate::__private::DurableEntry::of::<#ident>())));
    let name = match &options.name {
        Some(name) => quote!(#name),
        None => {
            let suffix = LitStr::new(&format!("::{fn_name}"), ident.span());
            quote!(::core::concat!(::core::module_path!(), #suffix))
        }
    };
    let task_options = task_options(options, &krate);
    let (impl_scheduled_task, cron_entry) = match scheduled(options, task, &krate, &assumptions) {
        Some((impl_scheduled_task, cron_entry)) => (Some(impl_scheduled_task), Some(cron_entry)),
        None => (None, None),
    };
    let run = run_fn(task, &krate);
    let blocking = task.is_blocking();
    let impl_background_task = contract::assuming(
        quote!(#krate::BackgroundTask for #ident),
        &assumptions,
        quote! {
            const NAME: &'static str = #name;
            const OPTIONS: #krate::TaskOptions = #task_options;

            #run
        },
    );

    quote! {
        #item

        // First, so that a broken contract is the first error.
        #(#cfgs)*
        #[allow(deprecated)]
        const _: () = {
            #checks
        };

        #(#docs)*
        #(#deprecated)*
        #[doc = #struct_doc]
        #[allow(non_camel_case_types)]
        #(#cfgs)*
        #vis struct #ident {
            #(
                #[doc = #field_docs]
                #vis #field_idents: #field_tys,
            )*
        }

        #(#cfgs)*
        #[allow(deprecated)]
        impl #ident {
            #[doc = #queue_doc]
            #[allow(clippy::too_many_arguments)]
            #vis fn queue(
                #(#field_idents: #field_tys),*
            ) -> ::core::result::Result<#krate::TaskHandle, #krate::QueueError> {
                #krate::__private::on_current(|__qbwi_host| {
                    #queue_method(__qbwi_host, Self { #(#field_idents),* })
                })
            }

            #[doc = #queue_on_doc]
            #[allow(clippy::too_many_arguments)]
            #vis fn queue_on(
                #host: &#krate::Host,
                #(#field_idents: #field_tys),*
            ) -> ::core::result::Result<#krate::TaskHandle, #krate::QueueError> {
                #queue_method(#host, Self { #(#field_idents),* })
            }

            #enqueue_fns
        }

        #(#cfgs)*
        #[allow(deprecated)]
        const _: () = {
            #state_types

            // A registered task is in use even if this binary never queues it: the registry lists
            // it (and a durable job queued elsewhere runs here by name), so `dead_code` must not
            // call the fn unused.
            let _ = #ident;

            #impl_background_task

            #impl_durable_task

            #impl_scheduled_task

            // Names the task but prints no argument: they are often personal data.
            impl ::core::fmt::Debug for #ident {
                fn fmt(
                    &self,
                    __qbwi_formatter: &mut ::core::fmt::Formatter<'_>,
                ) -> ::core::fmt::Result {
                    __qbwi_formatter.debug_struct(#fn_name).finish_non_exhaustive()
                }
            }

            #krate::__private::inventory::submit! {
                #krate::TaskInfo::__new(
                    #name,
                    ::core::module_path!(),
                    ::core::file!(),
                    ::core::line!(),
                    #blocking,
                )
                .__options(#task_options)
                #durable_entry
                #states_entry
                #cron_entry
            }
        };
    }
}

/// For `cron = ".."`: `impl ScheduledTask` (the task built from its tick: the fn's `Tick`
/// argument, its only field, if it takes one) and the registry's `.__cron(..)`.
fn scheduled(
    options: &Options,
    task: &TaskFn,
    krate: &TokenStream,
    assumptions: &TokenStream,
) -> Option<(TokenStream, TokenStream)> {
    let expression = options.cron.as_ref()?;
    let ident = &task.item.sig.ident;
    let timezone = match &options.timezone {
        Some(zone) => quote!(#zone),
        None => quote!("UTC"),
    };
    let backfill = match options.backfill_millis {
        Some(millis) => {
            let millis = Literal::u64_unsuffixed(millis);
            quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#millis)))
        }
        None => quote!(::core::option::Option::None),
    };
    let fields = task.fields.iter().map(|field| &field.ident);
    let impl_scheduled_task = contract::assuming(
        quote!(#krate::__private::ScheduledTask for #ident),
        assumptions,
        quote! {
            fn __at(__qbwi_tick: #krate::Tick) -> Self {
                Self { #(#fields: __qbwi_tick),* }
            }
        },
    );
    let constructor = if options.durable {
        quote!(durable)
    } else {
        quote!(of)
    };
    let entry = quote! {
        .__cron(#krate::__private::CronEntry::#constructor::<#ident>(
            #expression, #timezone, #backfill,
        ))
    };
    Some((impl_scheduled_task, entry))
}

/// The fn's attributes whose path is `name` (`doc`, `cfg`, `deprecated`).
fn attrs_named<'a>(item: &'a ItemFn, name: &'a str) -> impl Iterator<Item = &'a Attribute> {
    item.attrs
        .iter()
        .filter(move |attr| attr.path().is_ident(name))
}

/// `TaskOptions::new()` with the options that were given.
fn task_options(options: &Options, krate: &TokenStream) -> TokenStream {
    let mut expr = quote!(#krate::TaskOptions::new());
    if let Some(millis) = options.timeout_millis {
        let millis = Literal::u64_unsuffixed(millis);
        expr.extend(quote!(.with_timeout(::core::time::Duration::from_millis(#millis))));
    }
    if let Some(limit) = options.concurrency {
        let limit = Literal::usize_unsuffixed(limit);
        expr.extend(quote!(.with_concurrency(#limit)));
    }
    expr
}

/// `BackgroundTask::run`: calls the fn with the fields, the token and the states in the order the
/// user declared them, and turns what it returns into the run's result.
///
/// The states are fetched first, in `run` itself: the runner calls `run` with the host's states
/// in scope (a thread-local, for that call only), so a blocking fn's closure, which runs later on
/// another thread, gets them as values. A task without states fetches nothing.
///
/// The impl assumes the signature's contracts (`contract::assumptions`), so nothing here fails
/// for an argument, a state or a return type, which `contract::checks` reports on their types.
/// What is left: a `State` that is not qbwi's, reported on its type by `StateArgument` (the fetch
/// is the check), and an async fn's future that is not `Send`, reported on the fn's name by
/// `TaskFuture`.
fn run_fn(task: &TaskFn, krate: &TokenStream) -> TokenStream {
    let ident = &task.item.sig.ident;
    let name_span = ident.span();
    let token = if task.takes_token() {
        quote!(__qbwi_token)
    } else {
        quote!(_)
    };
    // Fields are moved out of `self` one by one, so no local named after an argument can shadow
    // the fn (an argument may have the fn's name); the token and the states are `__qbwi_` locals.
    let state_local = |index: usize| format_ident!("__qbwi_state_{index}");
    let args = task.params.iter().map(|param| match *param {
        Param::Field(index) => {
            let field = &task.fields[index].ident;
            quote!(self.#field)
        }
        Param::Token => quote!(__qbwi_token),
        Param::State(index) => state_local(index).into_token_stream(),
    });
    // The host lends its token; only a fn that takes one pays for a clone.
    let clone_token = task
        .takes_token()
        .then(|| quote!(let __qbwi_token = ::core::clone::Clone::clone(__qbwi_token);));
    // Spanned on the argument's type: a `State` that is not `qbwi::State` is reported there.
    let fetch_states = task.states.iter().enumerate().map(|(index, state)| {
        let span = state.ty.span();
        let krate = respan(krate, span);
        let (local, ty) = (state_local(index), &state.ty);
        quote_spanned! {span=>
            let #local = <#ty as #krate::StateArgument<#ident>>::__from_host(
                <Self as #krate::BackgroundTask>::NAME,
            );
        }
    });
    let call = quote!(#ident(#(#args),*));
    // The result's conversion, spanned on the return type: a type that is not `()` or
    // `Result<T, E: Display>` is reported there, by `TaskReturn` or `TaskErrorDisplay`.
    let into_result = match &task.item.sig.output {
        ReturnType::Type(_, ty) => {
            let span = ty.span();
            let krate = respan(krate, span);
            quote_spanned!(span=> <#ty as #krate::TaskReturn<#ident>>::__into_result)
        }
        ReturnType::Default => quote!(<() as #krate::TaskReturn<#ident>>::__into_result),
    };
    // `quote_spanned!` spans the tokens it writes; interpolated ones keep theirs.
    let krate = respan(krate, name_span);
    // The run's future, checked on the fn's name: `TaskFuture` (`Send + 'static`) reports one that
    // is not `Send` (a value held across an `.await`, a `State` whose type is not `Sync`) there.
    let checked = quote_spanned!(name_span=> <_ as #krate::TaskFuture<#ident>>::__checked);
    let body = if task.is_blocking() {
        quote_spanned! {name_span=>
            #checked(#krate::__private::run_blocking(move || #into_result(#call)))
        }
    } else {
        // The fn's own future, checked, then adapted: no `async` block holding a second copy of
        // the arguments.
        quote_spanned! {name_span=>
            #krate::__private::task_future(#checked(#call), #into_result)
        }
    };
    quote_spanned! {name_span=>
        fn run(
            self,
            #token: &#krate::CancellationToken,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<(), #krate::TaskError>,
        > + ::core::marker::Send + 'static + use<> {
            #clone_token
            #(#fetch_states)*
            #body
        }
    }
}

/// The name of a generated fn's own parameter (`queue_on`'s `host`, `enqueue_at`'s `at`, ..): the
/// first of `candidates` that no argument has, else the first with a number (`host_2`).
pub(crate) fn free_name(taken: &[&Ident], candidates: [&str; 3]) -> Ident {
    let is_free = |candidate: &Ident| !taken.iter().any(|ident| ident.unraw() == *candidate);
    let stem = candidates[0];
    candidates
        .into_iter()
        .map(|name| format_ident!("{name}"))
        .chain((2..).map(|n| format_ident!("{stem}_{n}")))
        .find(is_free)
        .expect("an unused name among infinitely many")
}

/// `tokens` with every span set to `span`, so that an error on the generated expression points
/// at `span` alone.
pub(crate) fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut respanned = Group::new(group.delimiter(), respan(&group.stream(), span));
                respanned.set_span(span);
                token = respanned.into();
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::{File, Item};

    use super::{background_task, free_name};

    /// The expansion as text, after checking that it parses as items.
    fn expand(args: TokenStream, item: TokenStream) -> String {
        let tokens = background_task(args, item).expect("a valid task");
        syn::parse2::<File>(tokens.clone()).expect("the expansion parses as items");
        tokens.to_string()
    }

    #[test]
    fn expands_to_the_fn_the_struct_and_the_impls() {
        let item = quote! {
            /// Sends the welcome mail.
            #[cfg(feature = "mail")]
            pub async fn send_mail(email: String, token: CancellationToken) -> Result<(), E> {}
        };
        let tokens = background_task(quote!(timeout = "30s"), item).unwrap();
        let file = syn::parse2::<File>(tokens).unwrap();
        let kinds: Vec<&str> = file
            .items
            .iter()
            .map(|item| match item {
                Item::Fn(_) => "fn",
                Item::Struct(_) => "struct",
                Item::Impl(_) => "impl",
                Item::Const(_) => "const",
                _ => "other",
            })
            .collect();
        // The checks first, so that a broken contract is the first error.
        assert_eq!(kinds, ["fn", "const", "struct", "impl", "const"]);
        let Item::Struct(generated) = &file.items[2] else {
            unreachable!()
        };
        assert_eq!(generated.fields.len(), 1);
        let cfgs = generated
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg"))
            .count();
        assert_eq!(cfgs, 1);
    }

    #[test]
    fn passes_the_token_where_the_fn_declares_it() {
        let text = expand(
            quote!(),
            quote!(
                async fn f(a: u8, t: CancellationToken, b: u8) {}
            ),
        );
        assert!(
            text.contains("__checked (f (self . a , __qbwi_token , self . b))"),
            "{text}"
        );
        let text = expand(
            quote!(),
            quote!(
                fn f(a: u8) {}
            ),
        );
        assert!(text.contains("run_blocking"), "{text}");
        assert!(text.contains("fn run (self , _ :"), "{text}");
    }

    #[test]
    fn queue_on_names_its_host_parameter_apart_from_the_arguments() {
        let ident = |name: &str| proc_macro2::Ident::new(name, proc_macro2::Span::call_site());
        let host_param =
            |taken: &[&proc_macro2::Ident]| free_name(taken, ["host", "on_host", "qbwi_host"]);
        assert_eq!(host_param(&[]), "host");
        let (host, on_host, qbwi_host) = (ident("host"), ident("on_host"), ident("qbwi_host"));
        assert_eq!(host_param(&[&host]), "on_host");
        assert_eq!(host_param(&[&host, &on_host, &qbwi_host]), "host_2");
        let raw_at = proc_macro2::Ident::new_raw("at", proc_macro2::Span::call_site());
        assert_eq!(free_name(&[&raw_at], ["at", "run_at", "qbwi_at"]), "run_at");
    }

    #[test]
    fn durable_adds_the_durable_impl_the_enqueue_fns_and_the_registry_entry() {
        let text = expand(
            quote!(
                durable,
                retries = 5,
                backoff = "linear",
                retry_delay = "1m30s"
            ),
            quote!(
                pub async fn f(email: String, t: CancellationToken, r#type: Option<u8>) {}
            ),
        );
        for expected in [
            "impl :: qbwi :: DurableTask for f",
            "RetryPolicy :: new (5 , :: qbwi :: Backoff :: Linear , :: core :: time :: Duration \
             :: from_millis (90000) ,)",
            "< String as :: qbwi :: DurableArgument < f >> :: __write (& __qbwi_task . email , \
             __qbwi_encoder , \"email\") ? ;",
            "< Option < u8 > as :: qbwi :: DurableArgument < f >> :: __write (& __qbwi_task . \
             r#type , __qbwi_encoder , \"type\") ? ;",
            "email : < String as :: qbwi :: DurableArgument < f >> :: __read (__qbwi_decoder , \
             \"email\") ? , r#type : < Option < u8 > as :: qbwi :: DurableArgument < f >> :: \
             __read (__qbwi_decoder , \"type\") ? ,",
            "const _ : () = < String as :: qbwi :: TaskArgument < f >> :: __CHECK ;",
            "const _ : () = < Option < u8 > as :: qbwi :: TaskArgument < f >> :: __CHECK ;",
            "impl :: qbwi :: DurableTask for f where for < '__qbwi > String : :: core :: marker \
             :: Send , for < '__qbwi > Option < u8 > : :: core :: marker :: Send {",
            ":: qbwi :: Host :: queue_durable (__qbwi_host , Self { email , r#type })",
            ":: qbwi :: Host :: queue_durable (host , Self { email , r#type })",
            "pub async fn enqueue (email : String , r#type : Option < u8 >)",
            "pub async fn enqueue_at (at : :: std :: time :: SystemTime ,",
            "pub async fn enqueue_after (delay : :: core :: time :: Duration ,",
            "pub async fn enqueue_in (client : & (impl :: qbwi :: EnqueueIn + ? :: core :: \
             marker :: Sized) ,",
            ". __durable (:: qbwi :: __private :: DurableEntry :: of :: < f > ())",
        ] {
            assert!(text.contains(expected), "{expected}\n\nnot in\n\n{text}");
        }
        assert!(!text.contains("Host :: queue ("), "{text}");
    }

    #[test]
    fn durable_defaults_and_names_apart() {
        let text = expand(
            quote!(durable, crate = "my::qbwi"),
            quote!(
                fn f(at: u8, delay: u8, client: u8, host: u8) {}
            ),
        );
        for expected in [
            "my :: qbwi :: RetryPolicy :: new (3 , my :: qbwi :: Backoff :: Exponential , :: \
             core :: time :: Duration :: from_millis (1000) ,)",
            "fn enqueue_at (run_at : :: std :: time :: SystemTime , at : u8 ,",
            "fn enqueue_after (run_after : :: core :: time :: Duration , at : u8 ,",
            "fn enqueue_in (transaction : & (impl my :: qbwi :: EnqueueIn",
            "fn queue_on (on_host : & my :: qbwi :: Host , at : u8 ,",
        ] {
            assert!(text.contains(expected), "{expected}\n\nnot in\n\n{text}");
        }
    }

    #[test]
    fn states_are_fetched_by_run_and_passed_where_the_fn_declares_them() {
        let text = expand(
            quote!(durable),
            quote!(
                pub async fn f(a: u8, s: State<Pool>, t: CancellationToken, q: qbwi::State<Q>) {}
            ),
        );
        for expected in [
            "let __qbwi_state_0 = < State < Pool > as :: qbwi :: StateArgument < f >> :: \
             __from_host (< Self as :: qbwi :: BackgroundTask > :: NAME ,) ;",
            "let __qbwi_state_1 = < qbwi :: State < Q > as :: qbwi :: StateArgument < f >> :: \
             __from_host (",
            "__checked (f (self . a , __qbwi_state_0 , __qbwi_token , __qbwi_state_1))",
            // A state is no field: neither checked as an argument nor assumed `Send`.
            "impl :: qbwi :: BackgroundTask for f where for < '__qbwi > u8 : :: core :: marker \
             :: Send {",
            "const __QBWI_STATES : & [:: qbwi :: __private :: StateType] = & [:: qbwi :: \
             __private :: StateType :: of :: < Pool > () , :: qbwi :: __private :: StateType :: \
             of :: < Q > ()] ;",
            ". __states (__QBWI_STATES)",
            // The struct, `queue` and `enqueue` have the plain argument only.
            "pub struct f { # [doc = \" The `a` argument of [`f`](fn@f).\"] pub a : u8 , }",
            "pub fn queue (a : u8)",
            "pub async fn enqueue (a : u8)",
        ] {
            assert!(text.contains(expected), "{expected}\n\nnot in\n\n{text}");
        }
        // Not stored with the job.
        assert!(!text.contains("field (\"s\""), "{text}");
        assert!(!text.contains("field (\"q\""), "{text}");
    }

    #[test]
    fn a_blocking_task_fetches_its_states_before_its_closure() {
        let text = expand(
            quote!(),
            quote!(
                fn f(s: State<Pool>) {}
            ),
        );
        let fetch = text.find("let __qbwi_state_0 =").expect("a fetch");
        let closure = text.find("run_blocking (move ||").expect("a closure");
        assert!(fetch < closure, "{text}");
        assert!(text.contains("fn run (self , _ :"), "no token: {text}");
    }

    #[test]
    fn a_task_without_states_fetches_nothing() {
        let text = expand(
            quote!(),
            quote!(
                async fn f(email: String, t: CancellationToken) {}
            ),
        );
        for unexpected in ["__qbwi_state", "__states", "StateType", "shareable"] {
            assert!(!text.contains(unexpected), "{unexpected} in {text}");
        }
    }

    #[test]
    fn in_memory_tasks_get_nothing_durable() {
        let text = expand(
            quote!(),
            quote!(
                async fn f(email: String) {}
            ),
        );
        for unexpected in ["Durable", "durable", "enqueue", "Serialize"] {
            assert!(!text.contains(unexpected), "{unexpected} in {text}");
        }
    }

    #[test]
    fn rejects_items_that_are_not_fns() {
        let error = background_task(
            quote!(),
            quote!(
                struct S;
            ),
        )
        .err()
        .unwrap();
        assert!(
            error
                .to_string()
                .starts_with("`#[background_task]` goes on a free fn")
        );
    }
}
