//! Shared state for tasks: [`State<T>`], the argument through which a task reaches a value the
//! host was given with [`HostBuilder::state`](crate::HostBuilder::state) (a database pool, a mail
//! transport, an HTTP client).
//!
//! A state is not an argument the caller passes: it is not a field of the task's struct and is
//! never stored with a durable job. The host keeps one `Arc` per type ([`States`]); when a run
//! starts, the runner makes the host's states this thread's for the synchronous call that builds
//! the run's future ([`scope`]), and the code `#[background_task]` generates takes an `Arc` clone
//! of each state its fn needs from there ([`from_scope`]). A task without states pays for nothing
//! but the two writes of a thread-local pointer around that call.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::fmt;
use std::ops::Deref;
use std::ptr;
use std::sync::Arc;

/// A value the host shares with every run of the tasks that take it: a database pool, a mail
/// transport, an HTTP client, a configuration. Give it to the host once with
/// [`HostBuilder::state`](crate::HostBuilder::state); a task takes it as an argument of type
/// `State<T>`, which the host passes when the run starts, like the
/// [`CancellationToken`](crate::CancellationToken).
///
/// `State<T>` derefs to `T`, and [`Clone`] clones the `Arc` the host keeps: every run, and every
/// host built from one builder, shares the same value. `T` must be `Send + Sync + 'static`, since
/// runs on many threads use it at once; put what they change behind a `Mutex` or an atomic.
///
/// ```standalone_crate
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use qbwi::{background_task, CancellationToken, Host, Outcome, State};
///
/// /// Stands for a mail transport: built once, shared by every run.
/// struct Mailer {
///     sent: AtomicU64,
/// }
///
/// /// Sends the welcome mail. `queue` takes the address only: the host passes the mailer.
/// #[background_task]
/// async fn send_mail(email: String, mailer: State<Mailer>, token: CancellationToken) {
///     if !token.is_cancelled() {
///         mailer.sent.fetch_add(1, Ordering::Relaxed); // talk SMTP to `email`
///         # let _ = email;
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let host = Host::builder().state(Mailer { sent: AtomicU64::new(0) }).build()?;
/// let handle = send_mail::queue_on(&host, "a@example.com".to_owned())?;
/// assert_eq!(handle.outcome().await, Outcome::Completed);
/// # host.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// The macro takes any argument whose type is a path ending in `State` with one type argument
/// (`State<Mailer>`, `qbwi::State<Mailer>`) for this type. So a task should not name another
/// `State` that way, such as axum's `axum::extract::State`: that is an error saying the type is
/// not `qbwi::State` (rename the other one in its `use`, or write `qbwi::State<T>`).
///
/// A state is never stored with a durable job: the host that runs the job passes its own. A host
/// that was not given the state of a task in its binary does not start
/// ([`HostError::MissingState`](crate::HostError::MissingState)), so a run never lacks one.
///
/// # Tests
///
/// The fn stays callable; to call it directly (in a unit test, say), make a state with
/// [`State::new`] or from an `Arc` (`State::from(arc)`).
///
/// The check at start covers every task linked into the binary, so every host a test binary
/// builds needs the states of all that binary's tasks, not only of those it queues. Give them
/// to each host, or put the tests that need other states in a test file of their own. Edition
/// 2024 links a crate's doctests into one binary: mark a doctest that declares a task with a
/// state `standalone_crate`, as this one is, so that it does not reach the other doctests'
/// hosts.
pub struct State<T> {
    value: Arc<T>,
}

impl<T> State<T> {
    /// A state holding `value`, for calling a task's fn directly: the host makes its own from
    /// what [`HostBuilder::state`](crate::HostBuilder::state) was given.
    pub fn new(value: T) -> Self {
        State {
            value: Arc::new(value),
        }
    }

    /// The `Arc` the state shares, to keep beyond the run or hand to code that takes one.
    ///
    /// An associated fn (`State::into_arc(state)`), not a method, so that it cannot hide a method
    /// of `T` of the same name.
    pub fn into_arc(this: Self) -> Arc<T> {
        this.value
    }
}

impl<T> From<Arc<T>> for State<T> {
    fn from(value: Arc<T>) -> Self {
        State { value }
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State {
            value: Arc::clone(&self.value),
        }
    }
}

impl<T> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> AsRef<T> for State<T> {
    fn as_ref(&self) -> &T {
        &self.value
    }
}

/// `State<my_app::Mailer>`: the type's name, not its value (which need not be `Debug`, and may
/// hold secrets such as a password).
impl<T> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "State<{}>", std::any::type_name::<T>())
    }
}

/// The states a host was given, one per type, looked up by `TypeId`.
#[derive(Clone, Default)]
pub(crate) struct States {
    /// Sorted by `id`, one per type. A host has a handful: a sorted `Vec` beats a hash map.
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    id: TypeId,
    name: &'static str,
    /// An `Arc<T>` of the entry's type. Boxed as the `Arc` itself, so that reading it back needs
    /// only `T: 'static` (the generated code asks for a `State<T>` before the type checker has
    /// reported a `T` that is not `Send + Sync`, and must not report it a second time).
    value: Arc<dyn Any + Send + Sync>,
}

impl States {
    /// Adds `value` as the state of type `T`, replacing one given before.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        let entry = Entry {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
            value: Arc::new(Arc::new(value)),
        };
        match self
            .entries
            .binary_search_by_key(&entry.id, |entry| entry.id)
        {
            Ok(at) => self.entries[at] = entry,
            Err(at) => self.entries.insert(at, entry),
        }
    }

    /// Whether a state of the type `id` was given.
    pub(crate) fn contains(&self, id: TypeId) -> bool {
        self.entry(id).is_some()
    }

    /// The state of type `T`, if it was given.
    fn get<T: 'static>(&self) -> Option<State<T>> {
        let entry = self.entry(TypeId::of::<T>())?;
        let value = entry.value.downcast_ref::<Arc<T>>()?;
        Some(State {
            value: Arc::clone(value),
        })
    }

    fn entry(&self, id: TypeId) -> Option<&Entry> {
        self.entries
            .binary_search_by_key(&id, |entry| entry.id)
            .ok()
            .map(|at| &self.entries[at])
    }
}

/// The states' type names: the values are not `Debug`, and may hold secrets.
impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|entry| entry.name))
            .finish()
    }
}

thread_local! {
    /// The states of the host whose run is building its future on this thread, during that call
    /// only ([`scope`]); null otherwise.
    static IN_SCOPE: Cell<*const States> = const { Cell::new(ptr::null()) };
}

/// Calls `make` with `states` as this thread's states, which [`from_scope`] reads: the runner
/// wraps the synchronous call that builds a run's future (`BackgroundTask::run`) in it.
///
/// Two thread-local writes, no allocation and no reference count: tasks without states pay
/// nothing else. The previous pointer is put back when `make` returns or panics, so a nested
/// scope (a task's `run` that builds another host's task) ends as it began.
#[inline]
pub(crate) fn scope<R>(states: &States, make: impl FnOnce() -> R) -> R {
    struct Restore(*const States);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            IN_SCOPE.set(self.0);
        }
    }
    let _restore = Restore(IN_SCOPE.replace(states));
    make()
}

/// The state of type `T` of the host whose run is starting on this thread; `None` outside a run's
/// start (a `run` called by hand) or if the host lacks it.
pub(crate) fn from_scope<T: 'static>() -> Option<State<T>> {
    let states = IN_SCOPE.get();
    // SAFETY: a non-null pointer was set by `scope`, which borrows the `States` it points to for
    // as long as the pointer is set: `scope` puts the previous pointer back before it returns
    // (or unwinds). The `States` is only read, through a shared reference that ends here.
    let states = unsafe { states.as_ref() }?;
    states.get::<T>()
}

/// One `State<T>` argument's type `T`, in the registry ([`TaskInfo`](crate::TaskInfo)), so that
/// a host can check at start that it has every state its binary's tasks take.
///
/// Fn pointers, because `TypeId::of` is not a `const fn` on the crate's oldest supported Rust.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct StateType {
    id: fn() -> TypeId,
    name: fn() -> &'static str,
}

impl StateType {
    /// The entry of `State<T>`.
    pub const fn of<T: 'static>() -> Self {
        StateType {
            id: TypeId::of::<T>,
            name: std::any::type_name::<T>,
        }
    }

    pub(crate) fn id(&self) -> TypeId {
        (self.id)()
    }

    /// `T`'s name, as `std::any::type_name` gives it.
    pub(crate) fn name(&self) -> &'static str {
        (self.name)()
    }
}

/// By the type, not by the fn pointers (one type's may differ between codegen units).
impl PartialEq for StateType {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for StateType {}

impl fmt::Debug for StateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_state_per_type_the_last_given_wins() {
        let mut states = States::default();
        states.insert(1u8);
        states.insert(String::from("first"));
        states.insert(String::from("second"));
        states.insert(2u8);
        assert_eq!(states.entries.len(), 2);
        let text = scope(&states, from_scope::<String>).expect("given");
        assert_eq!(*text, "second");
        assert_eq!(*scope(&states, from_scope::<u8>).expect("given"), 2);
        assert!(scope(&states, from_scope::<u16>).is_none());
        assert!(states.contains(TypeId::of::<u8>()));
        assert!(!states.contains(TypeId::of::<u16>()));
        assert_eq!(
            format!("{states:?}")
                .matches("alloc::string::String")
                .count(),
            1
        );
    }

    #[test]
    fn a_state_is_one_arc_shared_by_every_fetch() {
        let mut states = States::default();
        states.insert(vec![1, 2, 3]);
        let first = scope(&states, from_scope::<Vec<i32>>).expect("given");
        let second = scope(&states, from_scope::<Vec<i32>>).expect("given");
        assert!(Arc::ptr_eq(&first.value, &second.value));
        let cloned = states.clone();
        let third = scope(&cloned, from_scope::<Vec<i32>>).expect("given");
        assert!(
            Arc::ptr_eq(&first.value, &third.value),
            "a cloned builder shares"
        );
    }

    #[test]
    fn the_scope_ends_with_the_call_even_when_it_panics() {
        let mut states = States::default();
        states.insert(7u32);
        assert!(
            from_scope::<u32>().is_none(),
            "no scope outside a run's start"
        );
        let other = States::default();
        let nested = scope(&states, || {
            let inner = scope(&other, from_scope::<u32>);
            (inner.is_none(), from_scope::<u32>().is_some())
        });
        assert_eq!(nested, (true, true), "the outer scope comes back");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scope(&states, || panic!("in make"))
        }));
        assert!(panicked.is_err());
        assert!(from_scope::<u32>().is_none());
    }

    #[test]
    fn debug_names_the_type_not_the_value() {
        struct Secret;
        let state = State::new(Secret);
        assert!(format!("{state:?}").starts_with("State<"), "{state:?}");
        assert!(format!("{state:?}").ends_with("Secret>"), "{state:?}");
        assert_eq!(
            format!("{:?}", StateType::of::<u8>()),
            "u8",
            "the registry's entry"
        );
        assert_eq!(StateType::of::<u8>(), StateType::of::<u8>());
        assert_ne!(StateType::of::<u8>(), StateType::of::<i8>());
    }

    #[test]
    fn a_task_run_outside_a_host_says_where_its_state_comes_from() {
        let fetch = <State<u8> as crate::StateArgument<()>>::__from_host;
        let panic = std::panic::catch_unwind(|| fetch("mail::send")).unwrap_err();
        let message = crate::run::panic_message(panic.as_ref());
        assert!(message.contains("`mail::send`"), "{message}");
        assert!(message.contains("State<u8>"), "{message}");
        assert!(message.contains("HostBuilder::state"), "{message}");
    }
}
