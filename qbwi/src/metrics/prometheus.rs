//! Feature `prometheus`: the recorder of `metrics-exporter-prometheus` (only its recorder and its
//! text rendering: no HTTP server of its own, the dashboard serves `GET /metrics`), with buckets
//! for qbwi's histograms.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::{TASK_DURATION, TASK_WAIT};

/// The buckets (seconds) of `qbwi_task_duration_seconds` and `qbwi_task_wait_seconds` in
/// [`prometheus_builder`]: from 100 µs to 5 min, for work from a quick write to a long report.
pub const BUCKETS: [f64; 13] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0,
];

/// How often the recorder installed by [`install_prometheus`] folds the samples of its
/// histograms into their buckets when nobody scrapes (each scrape does it too), so that they do
/// not pile up.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Why [`install_prometheus`] could not install its recorder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The process already has a global `metrics` recorder that qbwi did not install.
    #[error(
        "this process already has a `metrics` recorder, which qbwi did not install: if it is a \
         Prometheus one, give its handle to `Dashboard::prometheus(handle)`; else install \
         `qbwi::metrics::prometheus_builder().install_recorder()` instead of it"
    )]
    OtherRecorder,
}

/// A `PrometheusBuilder` with buckets for qbwi's two histograms ([`BUCKETS`]), so that they are
/// rendered as Prometheus histograms (`_bucket`, `_sum`, `_count`) rather than summaries. Add
/// settings of your own, then `install_recorder()` and give the handle to
/// [`Dashboard::prometheus`](crate::dashboard::Dashboard::prometheus).
///
/// ```
/// let recorder = qbwi::metrics::prometheus_builder()
///     .add_global_label("service", "mailer")
///     .build_recorder(); // or `.install_recorder()?` for the process's global recorder
/// let handle = recorder.handle();
/// assert!(!handle.render().contains("qbwi_tasks_queued_total")); // nothing recorded into it yet
/// ```
pub fn prometheus_builder() -> PrometheusBuilder {
    [TASK_DURATION, TASK_WAIT]
        .into_iter()
        .fold(PrometheusBuilder::new(), |builder, name| {
            builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), &BUCKETS)
                .expect("BUCKETS is not empty")
        })
}

/// The handle of the recorder [`install_prometheus`] installed, once it has.
static INSTALLED: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs a Prometheus recorder ([`prometheus_builder`]'s) as the process's global `metrics`
/// recorder, the first time it is called, and returns its handle; later calls return the same
/// handle.
///
/// [`Dashboard::router`](crate::dashboard::Dashboard::router) calls it when no handle was given
/// to [`Dashboard::prometheus`](crate::dashboard::Dashboard::prometheus), so that `GET /metrics`
/// works with nothing more. Call it yourself, before the host runs tasks, to render the text
/// elsewhere, or to record from the start: the tasks that ran before a recorder was installed were
/// recorded nowhere (once it is installed, every task looks its handles up again). A thread of its
/// own folds the histograms' samples into their buckets every 5 s.
///
/// Fails with [`InstallError::OtherRecorder`] if the process already has a recorder that this
/// function did not install.
///
/// ```
/// # fn main() -> Result<(), qbwi::metrics::InstallError> {
/// let handle = qbwi::metrics::install_prometheus()?;
/// let text: String = handle.render(); // Prometheus' text format, for any endpoint of yours
/// # let _ = text;
/// # Ok(())
/// # }
/// ```
pub fn install_prometheus() -> Result<PrometheusHandle, InstallError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = &*installed {
        return Ok(handle.clone());
    }
    let recorder = prometheus_builder().build_recorder();
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder).map_err(|_| InstallError::OtherRecorder)?;
    super::recorder_installed();
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("qbwi-prometheus-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the Prometheus recorder's upkeep thread: histograms' samples are folded at each scrape only");
    }
    *installed = Some(handle.clone());
    Ok(handle)
}
