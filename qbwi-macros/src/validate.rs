//! Checks the annotated fn against the rules in the macro's docs and gathers what expansion needs.
//!
//! Every problem is collected, not just the first, and each error points at the offending token
//! and says what to write instead.

use syn::{FnArg, GenericParam, Ident, ItemFn, Pat, Safety, Type};

use crate::arg_type;
use crate::errors::Errors;

/// A fn that passed every check.
pub(crate) struct TaskFn {
    /// The fn as the user wrote it; emitted unchanged.
    pub(crate) item: ItemFn,
    /// The arguments stored in the task's struct: all but the token and the states, in order.
    pub(crate) fields: Vec<Field>,
    /// The `State<T>` arguments, which the host passes: in order, duplicates kept.
    pub(crate) states: Vec<StateArg>,
    /// Every argument, in the fn's order: what the generated `run` passes where.
    pub(crate) params: Vec<Param>,
}

/// An argument stored in the task's struct.
pub(crate) struct Field {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
}

/// A `State<T>` argument: passed by the host, not stored.
pub(crate) struct StateArg {
    /// The argument's type as written (`State<Mailer>`, `qbwi::State<Mailer>`).
    pub(crate) ty: Type,
    /// Its `T` (`Mailer`).
    pub(crate) inner: Type,
}

/// Where one argument of the fn comes from when the task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    /// From the task's struct: `fields[i]`.
    Field(usize),
    /// The run's `CancellationToken`.
    Token,
    /// From the host's states: `states[i]`.
    State(usize),
}

impl TaskFn {
    /// `true` for a plain `fn`, run on the blocking pool.
    pub(crate) fn is_blocking(&self) -> bool {
        self.item.sig.asyncness.is_none()
    }

    /// Whether the fn takes the `CancellationToken`.
    pub(crate) fn takes_token(&self) -> bool {
        self.params.contains(&Param::Token)
    }
}

/// Checks `item` (the fn of a `durable` task, or not; of a scheduled one, or not); returns every
/// problem at once.
pub(crate) fn task_fn(item: ItemFn, durable: bool, scheduled: bool) -> syn::Result<TaskFn> {
    let mut errors = Errors::default();
    check_signature(&item, &mut errors);
    let Args {
        fields,
        states,
        params,
    } = check_args(&item, durable, scheduled, &mut errors);
    errors.finish(TaskFn {
        item,
        fields,
        states,
        params,
    })
}

fn check_signature(item: &ItemFn, errors: &mut Errors) {
    let sig = &item.sig;
    if let Some(constness) = &sig.constness {
        errors.spanned(
            constness,
            "a background task cannot be a `const fn`: it runs at run time, on the host; remove \
             `const`",
        );
    }
    if let Safety::Unsafe(unsafety) = &sig.safety {
        errors.spanned(
            unsafety,
            "a background task cannot be an `unsafe fn`: the host calls it and cannot uphold a \
             safety contract; remove `unsafe` and put an `unsafe` block inside the body",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(
            abi,
            "a background task cannot be an `extern` fn: the host calls it as Rust; remove the \
             `extern` and call the foreign code from the body",
        );
    }
    for param in &sig.generics.params {
        let message = match param {
            GenericParam::Lifetime(_) => {
                "a background task cannot have lifetime parameters: it outlives the request that \
                 queued it, so its arguments must be owned; remove the lifetime and take owned \
                 types (`String`, not `&'a str`)"
            }
            GenericParam::Type(_) => {
                "a background task cannot be generic: the host stores and runs one concrete type \
                 per task; remove the type parameter and write one task per type, or take \
                 `Box<dyn Trait + Send>`"
            }
            GenericParam::Const(_) => {
                "a background task cannot have const parameters: remove it and pass the value as \
                 an argument"
            }
        };
        errors.spanned(param, message);
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.spanned(
            where_clause,
            "a background task cannot have a `where` clause: it cannot be generic; remove the \
             clause",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(
            variadic.dots,
            "a background task cannot be variadic: remove `...` and take a `Vec<T>`",
        );
    }
}

/// What the arguments are, sorted out.
#[derive(Default)]
struct Args {
    fields: Vec<Field>,
    states: Vec<StateArg>,
    params: Vec<Param>,
}

fn check_args(item: &ItemFn, durable: bool, scheduled: bool, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    for input in &item.sig.inputs {
        let arg = match input {
            FnArg::Receiver(receiver) => {
                errors.spanned(
                    receiver,
                    "a background task cannot take `self`: it is queued on its own, not called on \
                     a value; make it a free fn outside the `impl` and pass what it needs as \
                     owned arguments",
                );
                continue;
            }
            FnArg::Typed(arg) => arg,
        };
        for attr in &arg.attrs {
            errors.spanned(
                attr,
                "a background task's arguments cannot have attributes: each argument becomes a \
                 field of the task's struct; remove the attribute",
            );
        }
        if arg_type::is_token(&arg.ty) {
            if args.params.contains(&Param::Token) {
                errors.spanned(
                    &arg.ty,
                    "a background task takes at most one `CancellationToken`: remove this one \
                     and clone the first where you need two",
                );
            } else {
                // The token is passed, not stored: any pattern will do (`_`, `_token`).
                args.params.push(Param::Token);
            }
            continue;
        }
        if let Some(inner) = arg_type::state_inner(&arg.ty) {
            // Passed, not stored, like the token: any pattern will do.
            check_state(inner, errors);
            args.params.push(Param::State(args.states.len()));
            args.states.push(StateArg {
                ty: (*arg.ty).clone(),
                inner: inner.clone(),
            });
            continue;
        }
        if let Type::Reference(reference) = arg_type::strip(&arg.ty) {
            if arg_type::is_token(&reference.elem) {
                errors.spanned(
                    &arg.ty,
                    "take the `CancellationToken` by value (`token: CancellationToken`): the \
                     host hands each run its own token",
                );
                continue;
            }
            if arg_type::state_inner(&reference.elem).is_some() {
                let (pat, state) = (
                    arg_type::render(&arg.pat),
                    arg_type::render(&reference.elem),
                );
                errors.spanned(
                    &arg.ty,
                    format!(
                        "take the `State` by value (`{pat}: {state}`): the host hands each run \
                         its own `State`, a clone of the `Arc` it keeps"
                    ),
                );
                continue;
            }
        }
        if scheduled && !scheduled_field(arg, &args, errors) {
            continue;
        }
        arg_type::check(&arg.ty, durable, errors);
        if let Some(ident) = field_name(&arg.pat, errors) {
            args.params.push(Param::Field(args.fields.len()));
            args.fields.push(Field {
                ident,
                ty: (*arg.ty).clone(),
            });
        }
    }
    args
}

/// Whether `arg` may be an argument of a scheduled task, which the schedule fires with no
/// arguments: only its `Tick` (once) is stored, beside the token and the states checked before.
fn scheduled_field(arg: &syn::PatType, args: &Args, errors: &mut Errors) -> bool {
    if !arg_type::is_tick(&arg.ty) {
        let (pat, ty) = (arg_type::render(&arg.pat), arg_type::render(&arg.ty));
        errors.spanned(
            arg,
            format!(
                "a scheduled task takes no arguments but an optional `CancellationToken`, an \
                 optional `qbwi::Tick` (when the run was due, and whether it is a backfill) and \
                 `State<_>`s: `{pat}: {ty}` would have no value when the schedule fires; give \
                 the host the value with `HostBuilder::state(..)` and take a `State<{ty}>`, or \
                 remove the argument"
            ),
        );
        return false;
    }
    if !args.fields.is_empty() {
        errors.spanned(
            &arg.ty,
            "a scheduled task takes at most one `Tick`: remove this one and copy the first \
             where you need two",
        );
        return false;
    }
    true
}

/// Checks the `T` of a `State<T>` argument: the host shares one value of it, so it is owned and
/// concrete. Whether it is `Send + Sync` is left to the type checker
/// (`StateArgument` for `State<T>` requires `T: TaskState`, spanned on the argument's type).
fn check_state(inner: &Type, errors: &mut Errors) {
    if let Type::Reference(reference) = arg_type::strip(inner) {
        let owned = arg_type::owned(&reference.elem);
        errors.spanned(
            inner,
            format!(
                "a `State` holds the value the host shares, not a borrow: write `State<{owned}>`, \
                 and give the host the `{owned}` with `HostBuilder::state(..)`"
            ),
        );
        return;
    }
    // Lifetimes, `impl Trait`, `Self`; a state is never stored, so `durable` changes nothing.
    arg_type::check(inner, false, errors);
}

/// The field name an argument's pattern gives: a plain identifier, `mut` allowed.
fn field_name(pat: &Pat, errors: &mut Errors) -> Option<Ident> {
    match pat {
        Pat::Ident(binding) => {
            if let Some(by_ref) = &binding.by_ref {
                errors.spanned(
                    by_ref,
                    "a background task owns its arguments, so `ref` binds nothing useful: remove \
                     `ref`",
                );
            }
            if let Some((at, subpattern)) = &binding.subpat {
                errors.spanned(
                    quote::quote!(#at #subpattern),
                    "a background task's argument must be a plain name: remove the `@` pattern \
                     and match on the value in the body",
                );
            }
            Some(binding.ident.clone())
        }
        Pat::Wild(wild) => {
            errors.spanned(
                wild,
                "a background task's argument needs a name: it becomes a field of the task's \
                 struct; name it (`_unused: T` if the body does not use it)",
            );
            None
        }
        _ => {
            errors.spanned(
                pat,
                "a background task's argument must be a plain name, not a pattern: it becomes a \
                 field of the task's struct; bind it to a name (`point: Point`) and destructure \
                 it in the body",
            );
            None
        }
    }
}
