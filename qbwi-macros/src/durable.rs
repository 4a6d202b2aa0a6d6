//! What `durable` adds to a task: the `DurableTask` impl (retry policy, arguments written and read
//! by name through `DurableArgument`, which checks that each can be stored) and `enqueue` /
//! `enqueue_at` / `enqueue_after` / `enqueue_in`.
//!
//! The rest of the expansion (`expand.rs`) is shared with in-memory tasks; it asks this module
//! for these pieces when `durable` is given.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::attr::{Options, Retry};
use crate::contract;
use crate::docs::{self, Enqueue};
use crate::expand::{free_name, respan};
use crate::validate::TaskFn;

/// `impl DurableTask`: the retry policy, and each argument written and read under its name (a raw
/// identifier's name without `r#`), in the order the fn declares them.
///
/// Each argument is written and read through `DurableArgument<task>`, spanned on its type, so
/// that a type serde cannot store is reported there in qbwi's words. `encode` and `decode` call
/// two closures that one const, `__QBWI_CODEC`, defines: the type checker reports an unsatisfied
/// bound once per place and span, so such a type gets one error (the write and the read are one
/// bound on one span), not one more from each of `encode` and `decode`, which as separate fns
/// would each report it again. The impl has the task's `assumptions`, which `DurableTask`'s
/// supertrait `BackgroundTask` needs.
pub(crate) fn impl_durable_task(
    task: &TaskFn,
    retry: Retry,
    krate: &TokenStream,
    assumptions: &TokenStream,
    unique_key: Option<TokenStream>,
) -> TokenStream {
    let ident = &task.item.sig.ident;
    let task_ident = ident;
    let Retry {
        retries,
        backoff,
        delay_millis,
    } = retry;
    let retries = Literal::u32_unsuffixed(retries);
    let backoff = format_ident!("{}", backoff.variant());
    let delay_millis = Literal::u64_unsuffixed(delay_millis);
    let (writes, reads): (Vec<TokenStream>, Vec<TokenStream>) = task
        .fields
        .iter()
        .map(|field| {
            let name = field.ident.unraw().to_string();
            let ty = &field.ty;
            let span = ty.span();
            let krate = respan(krate, span);
            // The field access too, so that the whole call is on the type.
            let mut ident = field.ident.clone();
            ident.set_span(span);
            let argument = quote_spanned!(span=> <#ty as #krate::DurableArgument<#task_ident>>);
            let write = quote_spanned! {span=>
                #argument::__write(&__qbwi_task.#ident, __qbwi_encoder, #name)?;
            };
            let read = quote_spanned! {span=>
                #ident: #argument::__read(__qbwi_decoder, #name)?,
            };
            (write, read)
        })
        .unzip();
    let result = quote!(::core::result::Result);
    let impl_durable_task = contract::assuming(
        quote!(#krate::DurableTask for #ident),
        assumptions,
        quote! {
            const RETRY: #krate::RetryPolicy = #krate::RetryPolicy::new(
                #retries,
                #krate::Backoff::#backoff,
                ::core::time::Duration::from_millis(#delay_millis),
            );

            #[inline]
            fn encode(
                &self,
                __qbwi_encoder: &mut #krate::JobEncoder,
            ) -> #result<(), #krate::PayloadError> {
                (__QBWI_CODEC.0)(self, __qbwi_encoder)
            }

            #[inline]
            fn decode(
                __qbwi_decoder: &mut #krate::JobDecoder,
            ) -> #result<Self, #krate::PayloadError> {
                (__QBWI_CODEC.1)(__qbwi_decoder)
            }

            #unique_key
        },
    );
    quote! {
        const __QBWI_CODEC: (
            fn(&#ident, &mut #krate::JobEncoder) -> #result<(), #krate::PayloadError>,
            fn(&mut #krate::JobDecoder) -> #result<#ident, #krate::PayloadError>,
        ) = {
            (
                |__qbwi_task, __qbwi_encoder| {
                    #(#writes)*
                    #result::Ok(())
                },
                |__qbwi_decoder| #result::Ok(#ident { #(#reads)* }),
            )
        };

        #impl_durable_task
    }
}

/// `enqueue`, `enqueue_at`, `enqueue_after` and `enqueue_in`, with the fn's visibility. Their own
/// parameters (`at`, `delay`, `client`) are named apart from the arguments.
pub(crate) fn enqueue_fns(
    task: &TaskFn,
    retry: Retry,
    krate: &TokenStream,
    krate_text: &str,
    enqueue_unique: Option<TokenStream>,
) -> TokenStream {
    let item = &task.item;
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let field_idents: Vec<&Ident> = task.fields.iter().map(|field| &field.ident).collect();
    let field_tys: Vec<_> = task.fields.iter().map(|field| &field.ty).collect();
    let at = free_name(&field_idents, ["at", "run_at", "qbwi_at"]);
    let delay = free_name(&field_idents, ["delay", "run_after", "qbwi_delay"]);
    let client = free_name(&field_idents, ["client", "transaction", "qbwi_client"]);
    let doc = |kind| docs::enqueue(ident, krate_text, retry, kind);
    let (enqueue_doc, at_doc) = (doc(Enqueue::Now), doc(Enqueue::At(&at)));
    let (after_doc, in_doc) = (doc(Enqueue::After(&delay)), doc(Enqueue::In(&client)));
    let task = quote!(Self { #(#field_idents),* });
    let result = quote!(::core::result::Result<#krate::JobId, #krate::QueueError>);
    quote! {
        #[doc = #enqueue_doc]
        #[allow(clippy::too_many_arguments)]
        #vis async fn enqueue(#(#field_idents: #field_tys),*) -> #result {
            #krate::__private::enqueue_current(#task, ::core::option::Option::None).await
        }

        #[doc = #at_doc]
        #[allow(clippy::too_many_arguments)]
        #vis async fn enqueue_at(
            #at: ::std::time::SystemTime,
            #(#field_idents: #field_tys),*
        ) -> #result {
            #krate::__private::enqueue_current(#task, ::core::option::Option::Some(#at)).await
        }

        #[doc = #after_doc]
        #[allow(clippy::too_many_arguments)]
        #vis async fn enqueue_after(
            #delay: ::core::time::Duration,
            #(#field_idents: #field_tys),*
        ) -> #result {
            #krate::__private::enqueue_after(#task, #delay).await
        }

        #[doc = #in_doc]
        #[allow(clippy::too_many_arguments)]
        #vis async fn enqueue_in(
            // `impl Trait`, not a named type parameter: a parameter `C` would shadow a type `C`
            // that an argument's type names.
            #client: &(impl #krate::EnqueueIn + ?::core::marker::Sized),
            #(#field_idents: #field_tys),*
        ) -> #result {
            #krate::__private::enqueue_in(#client, #task).await
        }

        #enqueue_unique
    }
}

/// What `unique` or `unique_by = [..]` adds: `DurableTask::unique_key` and `enqueue_unique`.
#[derive(Default)]
pub(crate) struct Unique {
    pub(crate) key_fn: Option<TokenStream>,
    pub(crate) enqueue_fn: Option<TokenStream>,
}

/// The key of a unique task: its name and the key arguments (every stored one for `unique`, the
/// named ones in the fn's order for `unique_by`), as JSON.
pub(crate) fn unique(options: &Options, task: &TaskFn, krate: &TokenStream) -> Unique {
    let keys: Vec<&Ident> = match (&options.unique_by, options.unique) {
        (Some(names), _) => task
            .fields
            .iter()
            .filter(|field| names.iter().any(|name| name.unraw() == field.ident.unraw()))
            .map(|field| &field.ident)
            .collect(),
        (None, true) => task.fields.iter().map(|field| &field.ident).collect(),
        (None, false) => return Unique::default(),
    };
    let for_millis = match options.unique_for_millis {
        Some(millis) => {
            let millis = Literal::i64_unsuffixed(i64::try_from(millis).unwrap_or(i64::MAX));
            quote!(::core::option::Option::Some(#millis))
        }
        None => quote!(::core::option::Option::None),
    };
    let replace = options.replace;
    let key_fn = quote! {
        fn unique_key(
            &self,
        ) -> ::core::result::Result<
            ::core::option::Option<#krate::__private::UniqueKey>,
            #krate::PayloadError,
        > {
            #krate::__private::unique_key(
                <Self as #krate::BackgroundTask>::NAME,
                &(#(&self.#keys,)*),
                #for_millis,
                #replace,
            )
        }
    };
    let vis = &task.item.vis;
    let field_idents: Vec<&Ident> = task.fields.iter().map(|field| &field.ident).collect();
    let field_tys: Vec<_> = task.fields.iter().map(|field| &field.ty).collect();
    let doc = format!(
        "Stores the job unless a job with the same key ({}) is live{}: [`Enqueued::New`]({}::Enqueued::New) \
         with the new job's id, or [`Enqueued::Duplicate`]({}::Enqueued::Duplicate) with the id \
         of the job that holds the key{}. `enqueue` does the same and returns the id alone.",
        if options.unique_by.is_some() {
            let names: Vec<String> = keys
                .iter()
                .map(|key| format!("`{}`", key.unraw()))
                .collect();
            format!("the same {}", names.join(", "))
        } else {
            "the same arguments".to_owned()
        },
        if options.unique_for_millis.is_some() {
            " or was enqueued within `unique_for`"
        } else {
            ""
        },
        options.krate_text(),
        options.krate_text(),
        if replace {
            ", which took this job's arguments and run time if it had not started"
        } else {
            ""
        },
    );
    let enqueue_fn = quote! {
        #[doc = #doc]
        #[allow(clippy::too_many_arguments)]
        #vis async fn enqueue_unique(
            #(#field_idents: #field_tys),*
        ) -> ::core::result::Result<#krate::Enqueued, #krate::QueueError> {
            #krate::__private::enqueue_unique(
                Self { #(#field_idents),* },
                ::core::option::Option::None,
            )
            .await
        }
    };
    Unique {
        key_fn: Some(key_fn),
        enqueue_fn: Some(enqueue_fn),
    }
}
