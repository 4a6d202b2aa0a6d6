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

use crate::attr::Retry;
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
    }
}
