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
use crate::store::{Fire, NewJob, Store};
use crate::{BackgroundTask, DurableTask, PayloadError, QueueError};

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

/// What a scheduled task registers: its schedule, and how a tick queues it (in memory) or what
/// job it stores (durable).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct CronEntry {
    pub(crate) schedule: Schedule,
    pub(crate) fire: fn(&Host, Tick) -> Result<(), QueueError>,
    pub(crate) job: Option<fn(Tick) -> Result<NewJob, PayloadError>>,
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
            job: None,
        }
    }

    /// The entry of durable task `T`, scheduled as `schedule` says: each tick is one job in the
    /// store, whichever node fires it first.
    pub const fn durable<T: ScheduledTask + DurableTask>(
        expression: &'static str,
        timezone: &'static str,
        backfill: Option<Duration>,
    ) -> CronEntry {
        let mut entry = CronEntry::of::<T>(expression, timezone, backfill);
        entry.job = Some(job::<T>);
        entry
    }
}

fn job<T: ScheduledTask + DurableTask>(tick: Tick) -> Result<NewJob, PayloadError> {
    crate::durable::new_job(&T::__at(tick), None)
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

/// The schedules of this binary's scheduled tasks, checked: an error names the first that this
/// machine cannot run (its time zone is not in the system's database).
pub(crate) fn schedules() -> Result<Vec<(&'static str, CronEntry)>, (&'static str, String)> {
    let mut entries: Vec<(&'static str, CronEntry)> = crate::registry()
        .filter_map(|task| task.cron_entry().map(|entry| (task.name, entry)))
        .collect();
    entries.sort_by_key(|(name, _)| *name);
    for (name, entry) in &entries {
        entry.schedule.check().map_err(|problem| (*name, problem))?;
    }
    Ok(entries)
}

/// At most this many ticks of one schedule are fired at once (a backfill, or a node that could
/// not reach its store for a while): the latest.
const MOST_TICKS: usize = 1_000;

/// How long a node waits before it tries again to fire ticks it could not store.
const RETRY_FIRE: Duration = Duration::from_secs(1);

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

/// One schedule in a loop: where it stands.
struct Running {
    name: &'static str,
    entry: CronEntry,
    cron: Cron,
    zone: TimeZone,
    /// The last tick this loop fired or found fired (or its start): later ones are to fire.
    cursor: SystemTime,
    /// When to look again: the next tick, or a retry.
    due: Option<SystemTime>,
}

/// Each schedule's next tick, fired in turn: an in-memory task queued on the host (ticks missed
/// meanwhile coalesce into the latest), a durable one stored, every tick since the last fired
/// (first writer wins across nodes; on a store error the ticks wait for the next try).
async fn run(host: Weak<HostInner>, entries: Vec<(&'static str, CronEntry)>) {
    let clock = Clock::new();
    let start = clock.now();
    let store = host
        .upgrade()
        .and_then(|inner| Host::from_inner(inner).store().cloned());
    let mut running = Vec::new();
    for (name, entry) in entries {
        let Ok((cron, zone)) = entry.schedule.parsed() else {
            continue; // checked when the host was built
        };
        if entry.job.is_some() && store.is_none() {
            continue; // a durable task without a store: `warn_durable_without_store` said so
        }
        let cursor = match (&store, entry.job, entry.schedule.backfill) {
            (Some(store), Some(_), Some(window)) => backfill_from(store, name, start, window).await,
            _ => start,
        };
        let due = next_after(&cron, &zone, cursor).map(|next| next.max(start));
        running.push(Running {
            name,
            entry,
            cron,
            zone,
            cursor,
            due,
        });
    }
    loop {
        let Some(index) = (0..running.len())
            .filter(|index| running[*index].due.is_some())
            .min_by_key(|index| running[*index].due)
        else {
            return; // no schedule fires again
        };
        let due = running[index].due.unwrap_or(start);
        tokio::time::sleep_until(clock.instant_of(due)).await;
        let now = clock.now();
        if now < due {
            continue; // woken early (the system clock moved): sleep again
        }
        let Some(inner) = host.upgrade() else {
            return;
        };
        let host = Host::from_inner(inner);
        let schedule = &mut running[index];
        let ticks = ticks_between(&schedule.cron, &schedule.zone, schedule.cursor, now);
        let Some(&latest) = ticks.last() else {
            schedule.due = next_after(&schedule.cron, &schedule.zone, now);
            continue;
        };
        match (schedule.entry.job, &store) {
            (Some(job), Some(store)) => {
                let ticks: Vec<Tick> = ticks
                    .iter()
                    .map(|tick| Tick::at_time(*tick, *tick < start))
                    .collect();
                match fire_durable(store, schedule, job, ticks).await {
                    Ok(()) => {
                        schedule.cursor = latest;
                        schedule.due = next_after(&schedule.cron, &schedule.zone, latest);
                    }
                    Err(error) => {
                        tracing::warn!(task = schedule.name, %error, "cannot store a scheduled tick; trying again");
                        schedule.due = Some(now + RETRY_FIRE);
                    }
                }
            }
            _ => {
                if ticks.len() > 1 {
                    let skipped = ticks.len() - 1;
                    tracing::warn!(
                        task = schedule.name,
                        skipped,
                        "scheduled ticks were missed; running the latest"
                    );
                }
                schedule.cursor = latest;
                schedule.due = next_after(&schedule.cron, &schedule.zone, latest);
                match (schedule.entry.fire)(&host, Tick::at_time(latest, false)) {
                    Ok(()) => tracing::debug!(task = schedule.name, "scheduled run queued"),
                    Err(QueueError::ShuttingDown) => return,
                    Err(error) => {
                        tracing::warn!(task = schedule.name, %error, "cannot queue a scheduled run")
                    }
                }
            }
        }
    }
}

/// Where a starting node's durable schedule with `backfill = window` resumes: after the last tick
/// any node fired, if that is within the window (so the ticks missed since are fired, as
/// backfills); else at `start`. A schedule that never fired has nothing to backfill.
async fn backfill_from(
    store: &Store,
    name: &'static str,
    start: SystemTime,
    window: Duration,
) -> SystemTime {
    match store.last_tick_millis(name).await {
        Ok(Some(last)) => {
            let earliest = start.checked_sub(window).unwrap_or(start);
            crate::store::from_millis(last).max(earliest).min(start)
        }
        Ok(None) => start,
        Err(error) => {
            tracing::warn!(task = name, %error, "cannot read a schedule's last tick: no backfill");
            start
        }
    }
}

/// The ticks of `cron` in `zone` after `after` and at or before `until`, in order: the latest
/// [`MOST_TICKS`] of them.
fn ticks_between(
    cron: &Cron,
    zone: &TimeZone,
    after: SystemTime,
    until: SystemTime,
) -> Vec<SystemTime> {
    let mut ticks = std::collections::VecDeque::new();
    let mut at = after;
    while let Some(next) = next_after(cron, zone, at).filter(|next| *next <= until) {
        if ticks.len() == MOST_TICKS {
            ticks.pop_front();
        }
        ticks.push_back(next);
        at = next;
    }
    ticks.into()
}

/// Stores `ticks` of `schedule` unless other nodes did: those another node fired first are
/// dropped (read back from the store's last tick) and the rest tried again.
async fn fire_durable(
    store: &Store,
    schedule: &Running,
    job: fn(Tick) -> Result<NewJob, PayloadError>,
    mut ticks: Vec<Tick>,
) -> Result<(), crate::StoreError> {
    while !ticks.is_empty() {
        let mut fire = Fire {
            name: schedule.name,
            expression: schedule.entry.schedule.expression,
            timezone: schedule.entry.schedule.timezone,
            ticks: Vec::with_capacity(ticks.len()),
        };
        for tick in &ticks {
            match job(*tick) {
                Ok(job) => fire.ticks.push((tick.at_ms, job)),
                Err(error) => {
                    // A `Tick` always encodes; a task whose other fields do not is a bug to see.
                    tracing::error!(task = schedule.name, %error, "cannot encode a scheduled job");
                    return Ok(());
                }
            }
        }
        if store.fire(fire).await? {
            tracing::debug!(
                task = schedule.name,
                ticks = ticks.len(),
                "scheduled ticks stored"
            );
            return Ok(());
        }
        let Some(last) = store.last_tick_millis(schedule.name).await? else {
            return Ok(());
        };
        ticks.retain(|tick| tick.at_ms > last);
    }
    Ok(())
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
