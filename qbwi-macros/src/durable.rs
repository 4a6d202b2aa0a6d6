//! What `durable` adds to a task: the `DurableTask` impl (retry policy, arguments written and read
//! by name, and the assertion that each argument can be stored) and `enqueue` / `enqueue_at` /
//! `enqueue_after` / `enqueue_in`.
//!
//! The rest of the expansion (`expand.rs`) is shared with in-memory tasks; it asks this module
//! for these pieces when `durable` is given.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::attr::Retry;
use crate::docs::{self, Enqueue};
use crate::expand::{free_name, respan};
use crate::validate::TaskFn;

/// `assert_arg_is_durable::<T>()` for one argument, spanned on its type: an argument that serde
/// cannot store (no `Serialize` or `Deserialize`) is reported where it is written.
fn assert_arg(ty: &syn::Type, krate: &TokenStream) -> TokenStream {
    let span = ty.span();
    let krate = respan(krate, span);
    quote_spanned! {span=> #krate::__private::assert_arg_is_durable::<#ty>(); }
}

/// `impl DurableTask`: the retry policy, and each argument written and read under its name (a raw
/// identifier's name without `r#`), in the order the fn declares them.
///
/// `encode` and `decode` call two closures that one const, `__QBWI_CODEC`, defines beside the
/// per-argument `assert_arg_is_durable` calls, all spanned on the argument's type: the type checker
/// reports an unsatisfied bound once per place and span, so a type serde cannot handle gets one
/// error per missing trait (from the assertion), not one more from each of `encode` and
/// `decode`, which as separate fns would each report it again.
pub(crate) fn impl_durable_task(task: &TaskFn, retry: Retry, krate: &TokenStream) -> TokenStream {
    let ident = &task.item.sig.ident;
    let Retry {
        retries,
        backoff,
        delay_millis,
    } = retry;
    let retries = Literal::u32_unsuffixed(retries);
    let backoff = format_ident!("{}", backoff.variant());
    let delay_millis = Literal::u64_unsuffixed(delay_millis);
    let asserts = task.fields.iter().map(|field| assert_arg(&field.ty, krate));
    let (writes, reads): (Vec<TokenStream>, Vec<TokenStream>) = task
        .fields
        .iter()
        .map(|field| {
            let name = field.ident.unraw().to_string();
            let span = field.ty.span();
            // The field access too, so that the whole call is on the type.
            let mut ident = field.ident.clone();
            ident.set_span(span);
            let write = quote_spanned! {span=>
                __qbwi_encoder.field(#name, &__qbwi_task.#ident)?;
            };
            let read = quote_spanned! {span=>
                #ident: __qbwi_decoder.field(#name)?,
            };
            (write, read)
        })
        .unzip();
    let result = quote!(::core::result::Result);
    quote! {
        const __QBWI_CODEC: (
            fn(&#ident, &mut #krate::JobEncoder) -> #result<(), #krate::PayloadError>,
            fn(&mut #krate::JobDecoder) -> #result<#ident, #krate::PayloadError>,
        ) = {
            #(#asserts)*
            (
                |__qbwi_task, __qbwi_encoder| {
                    #(#writes)*
                    #result::Ok(())
                },
                |__qbwi_decoder| #result::Ok(#ident { #(#reads)* }),
            )
        };

        impl #krate::DurableTask for #ident {
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
        }
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
