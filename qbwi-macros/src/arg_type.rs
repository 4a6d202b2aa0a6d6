//! What an argument's type may be: owned (or `'static`) and concrete, because the task's struct
//! stores it and the task outlives the request that queued it.
//!
//! These checks are syntactic and catch what can be named in the message with a fix (`&str` ->
//! `String`). Whatever they cannot see (a type that is not `Send`, a struct hiding a borrow) is
//! caught by the type checker on the generated `<T as TaskArgument<task>>::__CHECK`, spanned on
//! the type (`contract.rs`).
//!
//! A durable task's arguments are also read back from the store into new values, so there even a
//! `'static` borrow is an error (with the same fix); whether serde can handle the type is left to
//! the type checker (`DurableArgument`, through which `durable.rs` writes and reads each one).

use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{
    GenericArgument, Lifetime, Path, PathArguments, Token, Type, TypeImplTrait, TypeParamBound,
    TypeReference,
};

use crate::errors::Errors;

/// Records every borrow, non-`'static` lifetime, `impl Trait` and `Self` in `ty`; for a `durable`
/// task, `'static` borrows too.
pub(crate) fn check(ty: &Type, durable: bool, errors: &mut Errors) {
    Walk {
        whole: ty,
        durable,
        errors,
    }
    .ty(ty);
}

/// `ty` with its spine of groups and parentheses removed.
pub(crate) fn strip(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            _ => return ty,
        }
    }
}

/// Whether `ty` names the cancellation token: a path whose last segment is `CancellationToken`.
pub(crate) fn is_token(ty: &Type) -> bool {
    match strip(ty) {
        Type::Path(path) => {
            path.qself.is_none()
                && path.path.segments.last().is_some_and(|last| {
                    last.ident == "CancellationToken" && last.arguments.is_none()
                })
        }
        _ => false,
    }
}

/// Whether `ty` names the `Tick` of a scheduled run (`Tick`, `qbwi::Tick`): a path whose last
/// segment is `Tick` with no arguments.
pub(crate) fn is_tick(ty: &Type) -> bool {
    match strip(ty) {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == "Tick" && last.arguments.is_none())
        }
        _ => false,
    }
}

/// The `T` of a `State<T>` argument: a path whose last segment is `State` with one type argument
/// (`State<Mailer>`, `qbwi::State<Mailer>`), whichever crate's `State` it names; the generated
/// code reports a `State` that is not `qbwi::State` on the type.
pub(crate) fn state_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = strip(ty) else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    let PathArguments::AngleBracketed(generic) = &last.arguments else {
        return None;
    };
    match (
        last.ident == "State",
        generic.args.len(),
        generic.args.first(),
    ) {
        (true, 1, Some(GenericArgument::Type(inner))) => Some(inner),
        _ => None,
    }
}

/// `tokens` as a person would write them: `Cow<'a, str>`, not `Cow < 'a , str >`.
pub(crate) fn render(tokens: &impl ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ::", "::"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        (" ;", ";"),
        ("& ", "&"),
        ("* ", "*"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" (", "("),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// Walks one argument's type; `whole` is that type, for messages.
struct Walk<'a> {
    whole: &'a Type,
    durable: bool,
    errors: &'a mut Errors,
}

impl Walk<'_> {
    fn ty(&mut self, ty: &Type) {
        match ty {
            Type::Reference(reference) => match &reference.lifetime {
                Some(lifetime) if lifetime.ident == "static" && self.durable => {
                    self.durable_borrow(reference);
                }
                Some(lifetime) if lifetime.ident == "static" => self.ty(&reference.elem),
                _ => self.borrow(reference),
            },
            Type::ImplTrait(impl_trait) => self.impl_trait(impl_trait),
            Type::Path(path) => {
                if let Some(qself) = &path.qself {
                    self.ty(&qself.ty);
                }
                self.path(&path.path);
            }
            Type::Array(array) => self.ty(&array.elem),
            Type::Slice(slice) => self.ty(&slice.elem),
            Type::Group(group) => self.ty(&group.elem),
            Type::Paren(paren) => self.ty(&paren.elem),
            Type::Ptr(pointer) => self.ty(&pointer.elem),
            Type::Tuple(tuple) => tuple.elems.iter().for_each(|elem| self.ty(elem)),
            Type::TraitObject(object) => self.bounds(&object.bounds),
            // The lifetimes of `fn(&str)` are its own (higher-ranked): the pointer is `'static`.
            // Macros and the rest are left to the type checker.
            _ => {}
        }
    }

    fn path(&mut self, path: &Path) {
        for segment in &path.segments {
            if segment.ident == "Self" {
                self.errors.spanned(
                    &segment.ident,
                    "`Self` cannot appear in a background task's arguments: the task is a free \
                     fn, outside any `impl`; name the type",
                );
            }
            // `Fn(&str) -> T` sugar is skipped: its lifetimes are higher-ranked, like `fn(&str)`.
            if let PathArguments::AngleBracketed(generic) = &segment.arguments {
                for argument in &generic.args {
                    match argument {
                        GenericArgument::Lifetime(lifetime) => self.lifetime(lifetime),
                        GenericArgument::Type(ty) => self.ty(ty),
                        GenericArgument::AssocType(assoc) => self.ty(&assoc.ty),
                        GenericArgument::Constraint(constraint) => self.bounds(&constraint.bounds),
                        _ => {}
                    }
                }
            }
        }
    }

    fn bounds(&mut self, bounds: &Punctuated<TypeParamBound, Token![+]>) {
        for bound in bounds {
            match bound {
                TypeParamBound::Lifetime(lifetime) => self.lifetime(lifetime),
                // `for<'a> Trait<'a>` binds its own lifetimes.
                TypeParamBound::Trait(trait_bound) if trait_bound.lifetimes.is_none() => {
                    self.path(&trait_bound.path);
                }
                _ => {}
            }
        }
    }

    fn lifetime(&mut self, lifetime: &Lifetime) {
        if lifetime.ident == "static" {
            return;
        }
        let whole = render(self.whole);
        let with_static = replace_lifetime(&whole, &lifetime.to_string(), "'static");
        self.errors.spanned(
            lifetime,
            format!(
                "background tasks cannot borrow: `{whole}` would outlive the request; take \
                 `{with_static}` or an owned type"
            ),
        );
    }

    fn borrow(&mut self, reference: &TypeReference) {
        let borrowed = render(reference);
        let owned = owned(&reference.elem);
        let share = match strip(&reference.elem) {
            Type::Path(_) if owned == render(&reference.elem) => {
                format!(" (or `Arc<{owned}>` to share one value)")
            }
            _ => String::new(),
        };
        self.errors.spanned(
            reference,
            format!(
                "background tasks cannot borrow: `{borrowed}` would outlive the request; take \
                 `{owned}`{share}"
            ),
        );
    }

    fn durable_borrow(&mut self, reference: &TypeReference) {
        let borrowed = render(reference);
        let owned = owned(&reference.elem);
        self.errors.spanned(
            reference,
            format!(
                "a durable task's arguments are stored and read back into new values, so they \
                 cannot borrow, not even for `'static`: instead of `{borrowed}`, take `{owned}`"
            ),
        );
    }

    fn impl_trait(&mut self, impl_trait: &TypeImplTrait) {
        let bounds = render(&impl_trait.bounds);
        let send = if has_send(&impl_trait.bounds) {
            ""
        } else {
            " + Send"
        };
        self.errors.spanned(
            impl_trait,
            format!(
                "`impl Trait` cannot be a background task's argument: the task stores each \
                 argument in a field, which needs one concrete type; take the concrete type, or \
                 `Box<dyn {bounds}{send}>`"
            ),
        );
    }
}

/// The owned counterpart of the borrowed `elem`: `str` -> `String`, `[T]` -> `Vec<T>`.
pub(crate) fn owned(elem: &Type) -> String {
    match strip(elem) {
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return render(elem);
            };
            let owned_name = match last.ident.to_string().as_str() {
                "str" => "String",
                "Path" => "PathBuf",
                "OsStr" => "OsString",
                "CStr" => "CString",
                _ => return render(elem),
            };
            if !last.arguments.is_none() {
                return render(elem);
            }
            let full = render(&path.path);
            let prefix = &full[..full.len() - last.ident.to_string().len()];
            format!("{prefix}{owned_name}")
        }
        Type::Slice(slice) => format!("Vec<{}>", render(&slice.elem)),
        Type::TraitObject(object) => {
            let send = if has_send(&object.bounds) {
                ""
            } else {
                " + Send"
            };
            format!("Box<dyn {}{send}>", render(&object.bounds))
        }
        Type::Reference(inner) => owned(&inner.elem),
        _ => render(elem),
    }
}

/// Whether one of `bounds` is `Send`.
fn has_send(bounds: &Punctuated<TypeParamBound, Token![+]>) -> bool {
    bounds.iter().any(|bound| match bound {
        TypeParamBound::Trait(trait_bound) => trait_bound
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Send"),
        _ => false,
    })
}

/// `text` with the lifetime `name` (`'a`) replaced by `with`, but not `'ab`.
fn replace_lifetime(text: &str, name: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(name) {
        let after = &rest[at + name.len()..];
        out.push_str(&rest[..at]);
        if after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            out.push_str(name);
        } else {
            out.push_str(with);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use syn::Type;

    use super::{check, render, replace_lifetime};
    use crate::errors::Errors;

    fn problems(ty: &str) -> Vec<String> {
        problems_of(ty, false)
    }

    fn problems_of(ty: &str, durable: bool) -> Vec<String> {
        let ty: Type = syn::parse_str(ty).unwrap();
        let mut errors = Errors::default();
        check(&ty, durable, &mut errors);
        match errors.finish(()) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|error| error.to_string()).collect(),
        }
    }

    #[test]
    fn renders_types_as_written() {
        for text in [
            "Cow<'a, str>",
            "&'static [u8]",
            "Vec<Vec<u8>>",
            "std::path::PathBuf",
            "Box<dyn Fn(&str) -> bool + Send>",
            "[u8; 4]",
            "(u8, String)",
            "*const u8",
        ] {
            let ty: Type = syn::parse_str(text).unwrap();
            assert_eq!(render(&ty), text);
        }
    }

    #[test]
    fn suggests_the_owned_type() {
        let take = |ty: &str| {
            let found = problems(ty);
            assert_eq!(found.len(), 1, "{ty}: {found:#?}");
            let at = found[0].find("take `").expect("a suggestion");
            found[0][at..].to_owned()
        };
        assert_eq!(take("&str"), "take `String`");
        assert_eq!(take("&'a str"), "take `String`");
        assert_eq!(
            take("&mut String"),
            "take `String` (or `Arc<String>` to share one value)"
        );
        assert_eq!(take("&[u8]"), "take `Vec<u8>`");
        assert_eq!(take("&std::path::Path"), "take `std::path::PathBuf`");
        assert_eq!(take("&OsStr"), "take `OsString`");
        assert_eq!(take("&dyn Display"), "take `Box<dyn Display + Send>`");
        assert_eq!(take("&&str"), "take `String`");
        assert_eq!(take("Vec<&str>"), "take `String`");
        assert_eq!(
            take("Cow<'a, str>"),
            "take `Cow<'static, str>` or an owned type"
        );
        assert_eq!(
            take("Box<dyn Error + '_>"),
            "take `Box<dyn Error + 'static>` or an owned type"
        );
    }

    #[test]
    fn accepts_owned_and_static_types() {
        for ty in [
            "String",
            "&'static str",
            "Cow<'static, str>",
            "Box<dyn Fn(&str) -> usize + Send + 'static>",
            "fn(&str) -> &str",
            "for<'a> fn(&'a str) -> &'a str",
            "Box<dyn for<'a> Fn(&'a str) + Send>",
            "Option<Vec<(u8, [u16; 2])>>",
            "<Vec<u8> as IntoIterator>::Item",
        ] {
            assert_eq!(problems(ty), Vec::<String>::new(), "{ty}");
        }
    }

    #[test]
    fn durable_tasks_take_no_static_borrows() {
        assert_eq!(
            problems_of("&'static str", true),
            [
                "a durable task's arguments are stored and read back into new values, so they \
                 cannot borrow, not even for `'static`: instead of `&'static str`, take `String`"
            ]
        );
        assert_eq!(problems_of("Option<&'static [u8]>", true).len(), 1);
        assert_eq!(problems_of("&str", true).len(), 1, "reported once");
        for ty in ["String", "Cow<'static, str>", "Option<Vec<u8>>"] {
            assert_eq!(problems_of(ty, true), Vec::<String>::new(), "{ty}");
        }
    }

    #[test]
    fn rejects_impl_trait_and_self_anywhere() {
        assert_eq!(problems("impl Display").len(), 1);
        assert_eq!(problems("Vec<impl Display>").len(), 1);
        assert_eq!(problems("Self").len(), 1);
        assert_eq!(problems("Option<Box<Self>>").len(), 1);
    }

    #[test]
    fn recognises_a_state_by_its_last_segment_and_one_type_argument() {
        let inner = |ty: &str| {
            let ty: Type = syn::parse_str(ty).unwrap();
            super::state_inner(&ty).map(render)
        };
        assert_eq!(inner("State<Mailer>").as_deref(), Some("Mailer"));
        assert_eq!(
            inner("qbwi::State<Arc<Pool>>").as_deref(),
            Some("Arc<Pool>")
        );
        assert_eq!(inner("(State<&str>)").as_deref(), Some("&str"));
        for not_a_state in [
            "State",
            "State<'a>",
            "State<A, B>",
            "StateOf<A>",
            "Option<State<A>>",
            "<T as Tr>::State<A>",
            "&State<A>",
        ] {
            assert_eq!(inner(not_a_state), None, "{not_a_state}");
        }
    }

    #[test]
    fn replaces_only_the_named_lifetime() {
        assert_eq!(
            replace_lifetime("Foo<'a, 'ab>", "'a", "'static"),
            "Foo<'static, 'ab>"
        );
    }
}
