//! Scheduled tasks: `#[background_task(cron = "..", timezone = "..")]`. The macro checks the
//! expression and the zone at compile time with the crates this module runs them with (croner,
//! jiff); a host runs every schedule its binary registered.
//!
//! Without `durable`, a scheduled task fires in every process that runs a host: a schedule loop
//! per host computes each schedule's next tick, sleeps until it, and queues the task with its
//! [`Tick`].
//!
//! The loop's clock is the later of the system's and its own (the system's time when the loop
//! started plus the runtime's monotonic time since): a system clock set back does not fire a tick
//! twice, one set forward (or a machine waking from sleep) is followed, and under tokio's paused
//! time (`#[tokio::test(start_paused = true)]`) schedules advance with the runtime's clock, so
//! tests of scheduled tasks run in no time.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::host::{Host, HostInner};
use crate::{BackgroundTask, QueueError};

/// When a scheduled run was due, and whether it is a backfill: what a scheduled task's
/// `qbwi::Tick` argument holds.
///
/// ```
/// use qbwi::{Tick, background_task};
///
/// /// Every day at 03:00 in Paris.
/// #[background_task(cron = "0 3 * * *", timezone = "Europe/Paris")]
/// async fn nightly_report(tick: Tick) {
///     println!("the report due at {:?}", tick.at());
/// }
///
/// // Run it now, by hand, as the schedule would have.
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let host = qbwi::Host::builder().start()?;
/// let handle = nightly_report::queue(Tick::now())?;
/// assert!(handle.outcome().await.is_completed());
/// # host.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tick {
    /// The instant the schedule named, in milliseconds since the Unix epoch.
    at_ms: i64,
    /// Enqueued when a host started, for a tick missed while no host ran (durable `backfill`).
    backfilled: bool,
}

impl Tick {
    /// A tick due now, not a backfill: for running a scheduled task by hand.
    pub fn now() -> Tick {
        Tick::at_time(SystemTime::now(), false)
    }

    /// The tick of `at`; `backfilled` if it is run late, for a tick missed while no host ran.
    pub fn at_time(at: SystemTime, backfilled: bool) -> Tick {
        Tick {
            at_ms: crate::store::millis(at),
            backfilled,
        }
    }

    /// The instant the schedule named (the run itself starts a little after it).
    pub fn at(&self) -> SystemTime {
        crate::store::from_millis(self.at_ms)
    }

    /// `true` for a tick missed while no host was running, enqueued when one started (durable
    /// tasks with `backfill = ".."`); `false` for a tick run when it was due.
    pub fn backfilled(&self) -> bool {
        self.backfilled
    }
}

/// A scheduled task's schedule, as its `#[background_task(cron = .., timezone = ..)]` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The cron expression: 5 fields (minute precision) or 6 (the second first).
    pub expression: &'static str,
    /// The IANA time zone it is read in; `"UTC"` by default.
    pub timezone: &'static str,
    /// How far back a starting host enqueues ticks missed while none ran (durable tasks only).
    pub backfill: Option<Duration>,
}

impl Schedule {
    /// The next tick strictly after `after`; `None` if the schedule or its zone cannot be read
    /// on this machine (see [`Schedule::check`]), or it never fires again.
    ///
    /// Daylight-saving changes: a tick at a wall-clock time that a change skips fires once, at
    /// the first instant after the gap; one at a time that happens twice fires once, at the
    /// first.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// # #[qbwi::background_task(cron = "*/15 * * * *")]
    /// # async fn every_quarter() {}
    /// # let schedule = qbwi::registry()
    /// #     .find(|task| task.name.ends_with("every_quarter"))
    /// #     .and_then(|task| task.schedule())
    /// #     .unwrap();
    /// let noon = SystemTime::UNIX_EPOCH + Duration::from_secs(12 * 3600);
    /// let next = schedule.next_after(noon).unwrap();
    /// assert_eq!(next.duration_since(noon).unwrap(), Duration::from_secs(15 * 60));
    /// ```
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let (cron, zone) = self.parsed().ok()?;
        next_after(&cron, &zone, after)
    }

    /// Whether this machine can run the schedule: the expression parses (the macro checked it),
    /// and the time zone is in the system's time zone database.
    pub fn check(&self) -> Result<(), String> {
        self.parsed().map(drop)
    }

    fn parsed(&self) -> Result<(Cron, TimeZone), String> {
        let cron = parser()
            .parse(self.expression)
            .map_err(|error| format!("cron expression `{}`: {error}", self.expression))?;
        let zone = TimeZone::get(self.timezone).map_err(|error| {
            format!(
                "time zone `{}` is not in this machine's time zone database ({error}): install \
                 the `tzdata` package, or set TZDIR to a copy of it",
                self.timezone
            )
        })?;
        Ok((cron, zone))
    }
}

/// The parser the macro checks expressions with: 5 or 6 fields, no year field.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// The first tick of `cron` in `zone` strictly after `after`.
fn next_after(cron: &Cron, zone: &TimeZone, after: SystemTime) -> Option<SystemTime> {
    let after = Timestamp::try_from(after).ok()?.to_zoned(zone.clone());
    let next = cron.find_next_occurrence(&after, false).ok()?;
    Some(SystemTime::from(next.timestamp()))
}

/// What a scheduled task registers: its schedule, and how a tick queues it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct CronEntry {
    pub(crate) schedule: Schedule,
    pub(crate) fire: fn(&Host, Tick) -> Result<(), QueueError>,
}

/// Entries are equal when their schedules are (a fn pointer's address says nothing).
impl PartialEq for CronEntry {
    fn eq(&self, other: &CronEntry) -> bool {
        self.schedule == other.schedule
    }
}

impl Eq for CronEntry {}

impl CronEntry {
    /// The entry of task `T`, scheduled as `schedule` says.
    pub const fn of<T: ScheduledTask>(
        expression: &'static str,
        timezone: &'static str,
        backfill: Option<Duration>,
    ) -> CronEntry {
        CronEntry {
            schedule: Schedule {
                expression,
                timezone,
                backfill,
            },
            fire: fire::<T>,
        }
    }
}

/// A task the macro made from a fn with `cron = ".."`: it is built from the tick alone.
#[doc(hidden)]
pub trait ScheduledTask: BackgroundTask {
    /// The task for `tick` (the fn's `Tick` argument, if it takes one).
    fn __at(tick: Tick) -> Self;
}

fn fire<T: ScheduledTask>(host: &Host, tick: Tick) -> Result<(), QueueError> {
    host.queue(T::__at(tick)).map(drop)
}

/// The schedules of this binary's in-memory scheduled tasks, checked: an error names the first
/// that this machine cannot run (its time zone is not in the system's database).
pub(crate) fn in_memory_schedules() -> Result<Vec<(&'static str, CronEntry)>, (&'static str, String)>
{
    let mut entries: Vec<(&'static str, CronEntry)> = crate::registry()
        .filter(|task| !task.durable)
        .filter_map(|task| task.cron_entry().map(|entry| (task.name, entry)))
        .collect();
    entries.sort_by_key(|(name, _)| *name);
    for (name, entry) in &entries {
        entry.schedule.check().map_err(|problem| (*name, problem))?;
    }
    Ok(entries)
}

/// The wall clock of a schedule loop: never earlier than the system's, never going back.
struct Clock {
    system: SystemTime,
    monotonic: tokio::time::Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            system: SystemTime::now(),
            monotonic: tokio::time::Instant::now(),
        }
    }

    fn now(&self) -> SystemTime {
        let steady = self.system + self.monotonic.elapsed();
        steady.max(SystemTime::now())
    }

    /// The runtime's instant at which this clock reads `at`, if it is not past.
    fn instant_of(&self, at: SystemTime) -> tokio::time::Instant {
        let ahead = at.duration_since(self.now()).unwrap_or(Duration::ZERO);
        tokio::time::Instant::now() + ahead
    }
}

/// Runs the schedules of `entries` for the host until it stops accepting.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    host: &Arc<HostInner>,
    entries: Vec<(&'static str, CronEntry)>,
) {
    if entries.is_empty() {
        return;
    }
    let stop = Host::from_inner(host.clone()).shutdown_token();
    let host = Arc::downgrade(host);
    runtime.spawn(async move {
        tokio::select! {
            () = run(host, entries) => {}
            () = stop.cancelled() => {}
        }
    });
}

/// Each schedule's next tick, fired in turn.
async fn run(host: Weak<HostInner>, entries: Vec<(&'static str, CronEntry)>) {
    let clock = Clock::new();
    let parsed: Vec<(&'static str, CronEntry, Cron, TimeZone)> = entries
        .into_iter()
        .filter_map(|(name, entry)| {
            let (cron, zone) = entry.schedule.parsed().ok()?;
            Some((name, entry, cron, zone))
        })
        .collect();
    let start = clock.now();
    let mut next: Vec<Option<SystemTime>> = parsed
        .iter()
        .map(|(_, _, cron, zone)| next_after(cron, zone, start))
        .collect();
    loop {
        let Some((index, due)) = next
            .iter()
            .enumerate()
            .filter_map(|(index, due)| due.map(|due| (index, due)))
            .min_by_key(|(_, due)| *due)
        else {
            return; // no schedule fires again
        };
        tokio::time::sleep_until(clock.instant_of(due)).await;
        if clock.now() < due {
            continue; // woken early (the system clock moved): sleep again
        }
        let (name, entry, cron, zone) = &parsed[index];
        // Ticks missed meanwhile (a machine asleep, a stalled runtime) are one run, the latest.
        let now = clock.now();
        let mut tick = due;
        let mut skipped = 0u64;
        while let Some(later) = next_after(cron, zone, tick).filter(|later| *later <= now) {
            tick = later;
            skipped += 1;
        }
        if skipped > 0 {
            tracing::warn!(
                task = name,
                skipped,
                "scheduled ticks were missed; running the latest"
            );
        }
        next[index] = next_after(cron, zone, tick);
        let Some(inner) = host.upgrade() else {
            return;
        };
        let host = Host::from_inner(inner);
        match (entry.fire)(&host, Tick::at_time(tick, false)) {
            Ok(()) => tracing::debug!(task = name, "scheduled run queued"),
            Err(QueueError::ShuttingDown) => return,
            Err(error) => tracing::warn!(task = name, %error, "cannot queue a scheduled run"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        SystemTime::from(text.parse::<Timestamp>().unwrap())
    }

    fn next(expression: &str, zone: &str, after: &str) -> String {
        let cron = parser().parse(expression).unwrap();
        let zone = TimeZone::get(zone).unwrap();
        let next = next_after(&cron, &zone, at(after)).unwrap();
        Timestamp::try_from(next)
            .unwrap()
            .to_zoned(zone)
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    #[test]
    fn a_tick_in_a_skipped_hour_fires_once_at_the_first_instant_after() {
        // Helsinki, 2026-03-29: at 03:00 EET the clocks go to 04:00 EEST; 03:30 never happens.
        assert_eq!(
            next("30 3 * * *", "Europe/Helsinki", "2026-03-28T22:00:00Z"),
            "2026-03-29T04:00:00+03:00"
        );
        // And the day after, at 03:30 again: once on the day without it.
        assert_eq!(
            next("30 3 * * *", "Europe/Helsinki", "2026-03-29T01:00:00Z"),
            "2026-03-30T03:30:00+03:00"
        );
    }

    #[test]
    fn a_tick_in_a_repeated_hour_fires_once() {
        // New York, 2026-11-01: at 02:00 EDT the clocks go back to 01:00 EST; 01:30 happens twice.
        let first = next("30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z");
        assert_eq!(first, "2026-11-01T01:30:00-04:00");
        // After the first 01:30 (05:30Z), the next is the day after, not the second 01:30 (06:30Z).
        assert_eq!(
            next("30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z"),
            "2026-11-02T01:30:00-05:00"
        );
    }

    #[test]
    fn six_fields_have_seconds_and_utc_is_always_known() {
        assert_eq!(
            next("*/10 * * * * *", "UTC", "2026-06-01T12:00:05Z"),
            "2026-06-01T12:00:10+00:00"
        );
        let schedule = Schedule {
            expression: "0 3 * * *",
            timezone: "Mars/Olympus_Mons",
            backfill: None,
        };
        let problem = schedule.check().unwrap_err();
        assert!(
            problem.contains("time zone `Mars/Olympus_Mons`"),
            "{problem}"
        );
        assert!(problem.contains("tzdata"), "{problem}");
    }

    #[test]
    fn a_tick_round_trips_through_its_stored_form() {
        let tick = Tick::at_time(at("2026-06-01T03:00:00Z"), true);
        let stored = serde_json::to_string(&tick).unwrap();
        assert_eq!(stored, r#"{"at_ms":1780282800000,"backfilled":true}"#);
        assert_eq!(serde_json::from_str::<Tick>(&stored).unwrap(), tick);
        assert_eq!(tick.at(), at("2026-06-01T03:00:00Z"));
    }
}
