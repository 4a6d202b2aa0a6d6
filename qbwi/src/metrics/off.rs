//! Without feature `metrics`: the calls the host makes, doing nothing, so that they compile to
//! nothing and the host's code needs no `#[cfg]`.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::Store;
use crate::host::HostInner;
use crate::outcome::Outcome;
use crate::store::NewJob;

/// One run's metrics: nothing.
pub(crate) struct RunMetrics;

impl RunMetrics {
    #[inline(always)]
    pub(crate) fn queued(_name: &'static str) -> RunMetrics {
        RunMetrics
    }

    #[inline(always)]
    pub(crate) fn claimed(_name: &'static str, _waited: Duration) -> RunMetrics {
        RunMetrics
    }

    #[inline(always)]
    pub(crate) fn started(&mut self) {}

    #[inline(always)]
    pub(crate) fn ended(&self, _outcome: &Outcome, _started: bool, _claimed: bool) {}
}

#[path = "end.rs"]
mod end;
pub(crate) use end::DurableEnd;

#[inline(always)]
pub(crate) fn durable_ended(_name: &'static str, _end: DurableEnd) {}

#[inline(always)]
pub(crate) fn store_error() {}

#[inline(always)]
pub(crate) fn describe() {}

#[inline(always)]
pub(crate) fn flush() {}

#[inline(always)]
pub(crate) fn watch_host(_runtime: &Handle, _host: &Arc<HostInner>) {}

/// The tasks of jobs being stored: nothing.
pub(crate) struct Storing;

impl Storing {
    #[inline(always)]
    pub(crate) fn of(_jobs: &[NewJob]) -> Storing {
        Storing
    }

    #[inline(always)]
    pub(crate) fn stored(self, _new: impl Fn(usize) -> bool) {}
}

/// `qbwi_jobs`: never due.
pub(crate) struct JobGauges;

impl JobGauges {
    #[inline(always)]
    pub(crate) fn new() -> JobGauges {
        JobGauges
    }

    pub(crate) async fn due(&mut self) {
        std::future::pending::<()>().await;
    }

    pub(crate) async fn update(&mut self, _store: &Store) {}
}
