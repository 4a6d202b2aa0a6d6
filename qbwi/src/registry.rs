//! The list of every `#[background_task]` in the binary, collected at link time, and the checks a
//! host makes on it before it starts.

use std::any::TypeId;

use crate::TaskOptions;
use crate::cron::{CronEntry, Schedule};
use crate::durable::{DurableEntry, RetryPolicy};
use crate::state::StateType;

/// Where a `#[background_task]` was declared. [`registry`] lists one per task in the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's name ([`BackgroundTask::NAME`](crate::BackgroundTask::NAME)).
    pub name: &'static str,
    /// The module the task's fn is in.
    pub module_path: &'static str,
    /// The source file of the declaration.
    pub file: &'static str,
    /// The line of the declaration.
    pub line: u32,
    /// `true` for a plain `fn` (run on the blocking pool), `false` for an `async fn`.
    pub blocking: bool,
    /// `true` for `#[background_task(durable)]`.
    pub durable: bool,
    options: TaskOptions,
    entry: Option<DurableEntry>,
    /// The `T` of each `State<T>` argument, in the fn's order.
    states: &'static [StateType],
    /// `cron = ".."`: its schedule, and how a tick queues it.
    cron: Option<CronEntry>,
}

impl TaskInfo {
    #[doc(hidden)]
    pub const fn __new(
        name: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
        blocking: bool,
    ) -> Self {
        TaskInfo {
            name,
            module_path,
            file,
            line,
            blocking,
            durable: false,
            options: TaskOptions::new(),
            entry: None,
            states: &[],
            cron: None,
        }
    }

    #[doc(hidden)]
    pub const fn __cron(mut self, entry: CronEntry) -> Self {
        self.cron = Some(entry);
        self
    }

    /// The task's schedule, for `#[background_task(cron = "..")]`; `None` for a task that runs
    /// only when queued.
    pub fn schedule(&self) -> Option<Schedule> {
        self.cron.map(|entry| entry.schedule)
    }

    pub(crate) fn cron_entry(&self) -> Option<CronEntry> {
        self.cron
    }

    #[doc(hidden)]
    pub const fn __options(mut self, options: TaskOptions) -> Self {
        self.options = options;
        self
    }

    #[doc(hidden)]
    pub const fn __durable(mut self, entry: DurableEntry) -> Self {
        self.durable = true;
        self.entry = Some(entry);
        self
    }

    #[doc(hidden)]
    pub const fn __states(mut self, states: &'static [StateType]) -> Self {
        self.states = states;
        self
    }

    /// The type `T` of each [`State<T>`](crate::State) argument the task takes, in the fn's
    /// order, as [`std::any::type_name`] names it (`"my_app::Mailer"`). A host must have been
    /// given each of them ([`HostBuilder::state`](crate::HostBuilder::state)) to start.
    pub fn state_types(&self) -> impl ExactSizeIterator<Item = &'static str> + use<> {
        self.states.iter().map(StateType::name)
    }

    /// The task's options (timeout, concurrency), as its
    /// [`OPTIONS`](crate::BackgroundTask::OPTIONS) say.
    pub fn options(&self) -> TaskOptions {
        self.options
    }

    /// How a durable task's failed runs are retried; `None` for an in-memory task.
    pub fn retry_policy(&self) -> Option<RetryPolicy> {
        self.entry.map(|entry| entry.retry)
    }

    pub(crate) fn durable_entry(&self) -> Option<DurableEntry> {
        self.entry
    }

    /// `file:line` of the declaration.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

inventory::collect!(TaskInfo);

/// Every `#[background_task]` linked into this binary, in no particular order.
///
/// ```
/// #[qbwi::background_task]
/// async fn ping() {}
///
/// assert!(qbwi::registry().any(|task| task.name.ends_with("::ping")));
/// ```
pub fn registry() -> impl Iterator<Item = &'static TaskInfo> {
    inventory::iter::<TaskInfo>.into_iter()
}

/// The first registered task (in name order, so the error is the same on every run) that takes a
/// state for which `given` is `false`, with that state's type name.
pub(crate) fn find_missing_state(
    given: impl Fn(TypeId) -> bool,
) -> Option<(&'static TaskInfo, &'static str)> {
    let mut tasks: Vec<&'static TaskInfo> =
        registry().filter(|task| !task.states.is_empty()).collect();
    tasks.sort_by_key(|task| (task.name, task.file, task.line));
    tasks.into_iter().find_map(|task| {
        let missing = task.states.iter().find(|state| !given(state.id()))?;
        Some((task, missing.name()))
    })
}

/// The first registered task (in name order) whose name has a NUL byte, which PostgreSQL cannot
/// store in text (a durable job is stored under its task's name). The macro refuses such a
/// `name = "..."`; a hand-written `TaskInfo` may still carry one.
pub(crate) fn find_nul_name() -> Option<&'static TaskInfo> {
    let mut tasks: Vec<&'static TaskInfo> =
        registry().filter(|task| task.name.contains('\0')).collect();
    tasks.sort_by_key(|task| (task.name, task.file, task.line));
    tasks.first().copied()
}

/// The first pair of registered tasks that share a name, if any, in a stable order (so the error
/// message is the same on every run).
pub(crate) fn find_duplicate() -> Option<(&'static TaskInfo, &'static TaskInfo)> {
    let mut tasks: Vec<&'static TaskInfo> = registry().collect();
    tasks.sort_by_key(|task| (task.name, task.file, task.line));
    tasks
        .windows(2)
        .find(|pair| pair[0].name == pair[1].name)
        .map(|pair| (pair[0], pair[1]))
}
