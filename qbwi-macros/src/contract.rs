//! The check that each argument of a task is a `TaskArgument` (`Send + 'static`; qbwi's
//! `argument.rs` has the contracts), reported once, on the type the user wrote, in qbwi's words.
//!
//! The other contracts need no code of their own: the generated `run` names each of them where
//! the type is written (`StateArgument` to fetch a state, `TaskReturn` to convert the result,
//! `TaskFuture` as its return type), and the type checker, which checks `run`'s return type only
//! where its body has no error, reports each broken one once. An argument is different: it is a
//! field of the task's struct, so one that is not `Send` makes the struct not `Send` (which
//! `BackgroundTask` requires), the run's future not `Send`, and a blocking task's closure not
//! `Send`, each reported on its own in the compiler's words.
//!
//! Two halves, therefore. [`checks`] asks the type checker, in a `const` that comes before
//! everything else the macro emits, whether each argument is a `TaskArgument`:
//! `<T as TaskArgument<task>>::__CHECK`, spanned on `T`, fails with the trait's
//! `on_unimplemented` sentence and no note about generated code. [`assumptions`] is the where
//! clause of the generated trait impls, `T: Send` for each argument's `T`, so that the impls'
//! bodies assume what the check checks instead of reporting it again.
//!
//! A where clause that names no generic parameter would itself be checked, and fail, where it is
//! written (rustc rejects trivially false bounds without `feature(trivial_bounds)`); each bound
//! is therefore behind an unused `for<'__qbwi>`, which rustc leaves to the impl's users to prove.
//! Its users are generated code only (`queue` and `queue_on`, the registry entry of a durable
//! task), where an argument that is not `Send` then costs one more error, on the attribute.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::expand::respan;
use crate::validate::TaskFn;

/// One `const _` per argument, spanned on its type.
pub(crate) fn checks(task: &TaskFn, krate: &TokenStream) -> TokenStream {
    let ident = &task.item.sig.ident;
    let checks = task.fields.iter().map(|field| {
        let ty = &field.ty;
        let span = ty.span();
        let krate = respan(krate, span);
        quote_spanned! {span=>
            const _: () = <#ty as #krate::TaskArgument<#ident>>::__CHECK;
        }
    });
    quote!(#(#checks)*)
}

/// The where clause of `impl BackgroundTask` (and `impl DurableTask`): `Send` for each argument's
/// type. Empty for a task without arguments.
pub(crate) fn assumptions(task: &TaskFn) -> TokenStream {
    if task.fields.is_empty() {
        return TokenStream::new();
    }
    let tys = task.fields.iter().map(|field| &field.ty);
    quote!(where #(for<'__qbwi> #tys: ::core::marker::Send),*)
}

/// `impl #header #assumptions { #body }`, and for rustdoc the same impl without the where clause,
/// which only restates what every argument's type already is and would puzzle a reader of the
/// task's docs.
pub(crate) fn assuming(
    header: TokenStream,
    assumptions: &TokenStream,
    body: TokenStream,
) -> TokenStream {
    if assumptions.is_empty() {
        return quote!(impl #header { #body });
    }
    quote! {
        #[cfg(not(doc))]
        impl #header #assumptions { #body }
        #[cfg(doc)]
        impl #header { #body }
    }
}
