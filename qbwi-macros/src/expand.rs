//! Emits the task: the fn unchanged, a struct of its arguments, `queue` / `queue_on`, the
//! `BackgroundTask` impl, the registry entry and the per-argument assertions.
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
use crate::errors;
use crate::validate::{self, TaskFn};

/// The macro: `Ok(tokens)`, or every problem found (the shim then emits the fn unchanged beside
/// the errors, so one mistake does not also break every caller of the fn).
pub(crate) fn background_task(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = syn::parse2::<Options>(args);
    let task = parse_fn(item).and_then(validate::task_fn);
    let (options, task) = errors::both(options, task)?;
    Ok(expand(&options, &task))
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
    let field_idents: Vec<&Ident> = task.fields.iter().map(|field| &field.ident).collect();
    let field_tys: Vec<_> = task.fields.iter().map(|field| &field.ty).collect();

    let fn_name = ident.unraw().to_string();
    let struct_doc = struct_doc(&fn_name, attrs_named(item, "doc").next().is_some());
    let field_docs = field_idents.iter().map(|field| {
        format!(
            " The `{}` argument of [`{fn_name}`](fn@{ident}).",
            field.unraw()
        )
    });
    let host = host_param(&field_idents);
    let queue_doc = queue_docs(&fn_name, &options.krate_text(), None);
    let queue_on_doc = queue_docs(&fn_name, &options.krate_text(), Some(&host));

    let assert_args = task.fields.iter().map(|field| {
        let span = field.ty.span();
        let krate = respan(&krate, span);
        let ty = &field.ty;
        quote_spanned! {span=> #krate::__private::assert_arg_is_send::<#ty>(); }
    });
    let name = match &options.name {
        Some(name) => quote!(#name),
        None => {
            let suffix = LitStr::new(&format!("::{fn_name}"), ident.span());
            quote!(::core::concat!(::core::module_path!(), #suffix))
        }
    };
    let task_options = task_options(options, &krate);
    let run = run_fn(task, &krate);
    let blocking = task.is_blocking();

    quote! {
        #item

        #(#docs)*
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
        impl #ident {
            #[doc = #queue_doc]
            #[allow(clippy::too_many_arguments)]
            #vis fn queue(
                #(#field_idents: #field_tys),*
            ) -> ::core::result::Result<#krate::TaskHandle, #krate::QueueError> {
                #krate::__private::queue_current(Self { #(#field_idents),* })
            }

            #[doc = #queue_on_doc]
            #[allow(clippy::too_many_arguments)]
            #vis fn queue_on(
                #host: &#krate::Host,
                #(#field_idents: #field_tys),*
            ) -> ::core::result::Result<#krate::TaskHandle, #krate::QueueError> {
                #krate::__private::queue_on(#host, Self { #(#field_idents),* })
            }
        }

        #(#cfgs)*
        const _: () = {
            #(#assert_args)*

            impl #krate::BackgroundTask for #ident {
                const NAME: &'static str = #name;
                const OPTIONS: #krate::TaskOptions = #task_options;

                #run
            }

            // Names the task but prints no argument: they are often personal data.
            impl ::core::fmt::Debug for #ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(#fn_name).finish_non_exhaustive()
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
            }
        };
    }
}

/// The fn's attributes whose path is `name` (`doc`, `cfg`).
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

/// `BackgroundTask::run`: calls the fn with the fields and the token in the order the user
/// declared them, and turns what it returns into the run's result.
///
/// Spans make the type checker's errors land on the user's tokens: the whole fn is spanned on
/// the fn's name, so a future (or blocking body) that is not `Send` is reported on the fn; the
/// `into_task_result` call and its argument are spanned on the return type, so a return type that
/// is not `()` or `Result<T, E: Display>` is reported there.
fn run_fn(task: &TaskFn, krate: &TokenStream) -> TokenStream {
    let ident = &task.item.sig.ident;
    let name_span = ident.span();
    // The first and last token of the return type: an expression spanned from one to the other
    // underlines all of `Result<(), MailError>` (a single span would cover `Result` only).
    let (output_first, output_last) = match &task.item.sig.output {
        ReturnType::Type(_, ty) => {
            let mut tokens = ty.to_token_stream().into_iter();
            let first = tokens.next().map_or(name_span, |token| token.span());
            (first, tokens.last().map_or(first, |token| token.span()))
        }
        ReturnType::Default => (name_span, name_span),
    };
    let token = match task.token_position {
        Some(_) => quote!(__qbwi_token),
        None => quote!(_),
    };
    // Fields are moved out of `self` one by one, so no local named after an argument can shadow
    // the fn (an argument may have the fn's name).
    let mut args: Vec<TokenStream> = task
        .fields
        .iter()
        .map(|field| {
            let field = &field.ident;
            quote!(self.#field)
        })
        .collect();
    if let Some(position) = task.token_position {
        args.insert(position, quote!(__qbwi_token));
    }
    let call = if task.is_blocking() {
        quote!(#ident(#(#args),*))
    } else {
        quote!(#ident(#(#args),*).await)
    };
    // The callee and its argument each cover the whole type, so rustc's labels for the two
    // coincide instead of splitting the underline.
    let callee = respan_range(
        &quote!(#krate::__private::into_task_result),
        output_first,
        output_last,
    );
    let argument = respan_range(&quote!((#call)), output_first, output_last);
    let result = quote!(#callee #argument);
    // `quote_spanned!` spans the tokens it writes; interpolated ones (`result`) keep theirs.
    let krate = respan(krate, name_span);
    let body = if task.is_blocking() {
        quote_spanned!(name_span=> #krate::__private::run_blocking(move || #result))
    } else {
        quote_spanned! {name_span=>
            #krate::__private::assert_future_is_send(async move { #result })
        }
    };
    quote_spanned! {name_span=>
        fn run(
            self,
            #token: #krate::CancellationToken,
        ) -> impl ::core::future::Future<
            Output = ::core::result::Result<(), #krate::TaskError>,
        > + ::core::marker::Send + 'static {
            #body
        }
    }
}

/// The paragraph added to the struct's docs (after the fn's own docs, if any).
fn struct_doc(fn_name: &str, has_docs: bool) -> String {
    let gap = if has_docs { "\n\n" } else { "" };
    format!(
        "{gap} The background task made by `#[background_task]` from the fn \
         [`{fn_name}`](fn@{fn_name}); its fields are the fn's arguments. Queue a run with \
         [`{fn_name}::queue`](Self::queue) or [`{fn_name}::queue_on`](Self::queue_on)."
    )
}

/// The docs of `queue` (`host: None`) and `queue_on` (`host: Some(parameter name)`).
fn queue_docs(fn_name: &str, krate: &str, host: Option<&Ident>) -> String {
    let (which, current, no_host) = match host {
        None => (
            "the current host (the last one started with \
             [`HostBuilder::start`]({krate}::HostBuilder::start))"
                .replace("{krate}", krate),
            " It works from any thread, inside the runtime or not.",
            format!(
                "\n - [`QueueError::NoHost`]({krate}::QueueError::NoHost): no host was ever \
                 started in this process;"
            ),
        ),
        Some(host) => (format!("`{host}`"), "", String::new()),
    };
    format!(
        " Queues a run of [`{fn_name}`](fn@{fn_name}) on {which} and returns at once.\n\n \
         This never blocks and never awaits: the arguments are moved into the task, and the \
         host runs it in the background.{current} The returned \
         [`TaskHandle`]({krate}::TaskHandle) can await the run's outcome; nobody has to.\n\n \
         # Errors\n\n \
         The task is not queued, and its arguments are dropped, when:\n{no_host}\n \
         - [`QueueError::ShuttingDown`]({krate}::QueueError::ShuttingDown): the host has begun \
         shutting down;\n \
         - [`QueueError::Full`]({krate}::QueueError::Full): the host's `queue_capacity` tasks \
         are already waiting to start."
    )
}

/// The name of `queue_on`'s host parameter: `host`, unless an argument already has that name.
fn host_param(taken: &[&Ident]) -> Ident {
    let is_free = |candidate: &Ident| !taken.iter().any(|ident| ident.unraw() == *candidate);
    ["host", "on_host", "qbwi_host"]
        .into_iter()
        .map(|name| format_ident!("{name}"))
        .chain((2..).map(|n| format_ident!("host_{n}")))
        .find(is_free)
        .expect("an unused name among infinitely many")
}

/// `tokens` with every span set to `span`, so that an error on the generated expression points
/// at `span` alone.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    respan_range(tokens, span, span)
}

/// `tokens` spanned from `first` to `last`: every token gets `first` except the last one (and,
/// inside it, its own last one, and so on), which gets `last`. An expression made of them then
/// covers everything from `first` to `last`, like the user's tokens they stand for.
fn respan_range(tokens: &TokenStream, first: Span, last: Span) -> TokenStream {
    let count = tokens.clone().into_iter().count();
    tokens
        .clone()
        .into_iter()
        .enumerate()
        .map(|(index, mut token)| {
            let end = if index + 1 == count { last } else { first };
            if let TokenTree::Group(group) = &token {
                let stream = respan_range(&group.stream(), first, end);
                let mut respanned = Group::new(group.delimiter(), stream);
                respanned.set_span(end);
                token = respanned.into();
            } else {
                token.set_span(end);
            }
            token
        })
        .collect()
}
