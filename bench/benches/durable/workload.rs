//! The work both contenders do, and how a run is timed. Shared, by path, with the apalis child
//! process (`bench/apalis-durable`), so that both sides hand over, record and summarise jobs the
//! same way.
//!
//! A job is one `u64`, its number. [`Run::enqueued`] records when the bench hands job `n` to the
//! contender; the job's body calls [`job_started`] first thing. A run's time goes from
//! [`Run::begin`] (just before the first hand-over) to the moment the store has every job
//! completed: for qbwi, `wait_idle` (which returns once the store recorded every run's end); for
//! apalis, polled once every jobs' bodies have started (see [`until`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Concurrent single inserts: this many tasks, each awaiting its enqueues one after another.
pub const PRODUCERS: u64 = 64;

/// Batched inserts: apalis's `push_bulk` gets this many jobs per call (qbwi's writer commits up to
/// 1024 per transaction by itself).
pub const BATCH: usize = 1024;

/// How the jobs are handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One producer; each enqueue is committed before the next starts.
    Single,
    /// [`PRODUCERS`] producers, each as in `Single`.
    Concurrent,
    /// One producer handing over all jobs at once (qbwi: `queue_durable`, then `persisted()`;
    /// apalis: `push_bulk` of [`BATCH`] jobs at a time).
    Batched,
}

impl Mode {
    /// Every mode, in the order they run.
    pub const ALL: [Mode; 3] = [Mode::Single, Mode::Concurrent, Mode::Batched];

    /// Its word on the command line (and between the bench and the apalis child).
    pub fn key(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Concurrent => "concurrent",
            Mode::Batched => "batched",
        }
    }

    /// The mode named `word`.
    pub fn parse(word: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.key() == word)
    }

    /// The jobs producer `producer` (of [`PRODUCERS`]) hands over in a run of `jobs`.
    pub fn share(producer: u64, jobs: u64) -> impl Iterator<Item = u64> {
        (producer..jobs).step_by(PRODUCERS as usize)
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// From the first hand-over to the store saying every job is completed.
    pub elapsed: Duration,
    /// From the first hand-over until every job was committed (the enqueue rate's time).
    pub enqueued: Duration,
    /// Enqueue-to-start latency, p50 and p99, in nanoseconds.
    pub started: [u64; 2],
    /// Jobs whose body ran more than once (at-least-once delivery; expected: 0).
    pub repeats: u64,
}

impl Measurement {
    /// The line the apalis child prints, for [`Measurement::from_line`].
    #[allow(dead_code)] // the child writes, the bench reads
    pub fn to_line(self) -> String {
        format!(
            "measured {} {} {} {} {}",
            self.elapsed.as_nanos(),
            self.started[0],
            self.started[1],
            self.repeats,
            self.enqueued.as_nanos()
        )
    }

    /// Reads a line written by [`Measurement::to_line`].
    #[allow(dead_code)] // the child writes, the bench reads (with `--features apalis`)
    pub fn from_line(line: &str) -> Option<Measurement> {
        let mut words = line.strip_prefix("measured ")?.split(' ');
        let mut next = || words.next()?.parse::<u64>().ok();
        let elapsed = Duration::from_nanos(next()?);
        let started = [next()?, next()?];
        let repeats = next()?;
        Some(Measurement {
            elapsed,
            started,
            repeats,
            enqueued: Duration::from_nanos(next()?),
        })
    }
}

/// One timed run: when each job was handed over and when its body started.
#[derive(Debug)]
pub struct Run {
    /// When the run began; the times below are nanoseconds since then, plus one (0: not yet).
    began: Instant,
    enqueued: Box<[AtomicU64]>,
    started: Box<[AtomicU64]>,
    /// Jobs whose body started at least once.
    starts: AtomicU64,
    /// Bodies that ran again for a job that had started before.
    repeats: AtomicU64,
    /// Woken when every job has started.
    all_started: Notify,
    /// When every job had been committed (nanoseconds since `began`, plus one; 0: not yet).
    all_enqueued: AtomicU64,
}

/// The run that [`job_started`] records into.
static CURRENT: RwLock<Option<Arc<Run>>> = RwLock::new(None);

impl Run {
    /// Starts the clock for a run of `jobs` jobs, numbered `0..jobs`. Call it just before the
    /// first hand-over, with the contender ready.
    pub fn begin(jobs: u64) -> Arc<Run> {
        let slots = || (0..jobs).map(|_| AtomicU64::new(0)).collect();
        let run = Arc::new(Run {
            began: Instant::now(),
            enqueued: slots(),
            started: slots(),
            starts: AtomicU64::new(0),
            repeats: AtomicU64::new(0),
            all_started: Notify::new(),
            all_enqueued: AtomicU64::new(0),
        });
        *CURRENT.write().unwrap_or_else(PoisonError::into_inner) = Some(run.clone());
        run
    }

    fn now(&self) -> u64 {
        self.began.elapsed().as_nanos() as u64 + 1
    }

    /// Job `n` is being handed over now.
    pub fn enqueued(&self, n: u64) {
        self.enqueued[n as usize].store(self.now(), Ordering::Relaxed);
    }

    fn started(&self, n: u64) {
        let slot = &self.started[n as usize];
        if slot.swap(self.now(), Ordering::Relaxed) != 0 {
            self.repeats.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.starts.fetch_add(1, Ordering::AcqRel) + 1 == self.started.len() as u64 {
            self.all_started.notify_one();
        }
    }

    /// Every job is committed now: the hand-over is over (call it when the last enqueue returned).
    pub fn all_enqueued(&self) {
        self.all_enqueued.store(self.now(), Ordering::Relaxed);
    }

    /// Resolves once every job's body has started.
    pub async fn all_started(&self) {
        while self.starts.load(Ordering::Acquire) < self.started.len() as u64 {
            self.all_started.notified().await;
        }
    }

    /// Stops the clock (call it the moment the store says every job is completed) and
    /// summarises the run.
    ///
    /// # Panics
    ///
    /// If a job was never handed over or never started: the contender lost it.
    pub fn finish(&self) -> Measurement {
        let elapsed = self.began.elapsed();
        *CURRENT.write().unwrap_or_else(PoisonError::into_inner) = None;
        let mut waits: Vec<u64> = self
            .enqueued
            .iter()
            .zip(&self.started)
            .enumerate()
            .map(|(n, (enqueued, started))| {
                let (enqueued, started) = (
                    enqueued.load(Ordering::Relaxed),
                    started.load(Ordering::Relaxed),
                );
                assert!(enqueued > 0 && started > 0, "job {n} was lost");
                started.saturating_sub(enqueued)
            })
            .collect();
        waits.sort_unstable();
        let percentile = |p: f64| {
            let rank = (p / 100.0 * waits.len() as f64).ceil() as usize;
            waits[rank.clamp(1, waits.len()) - 1]
        };
        let enqueued = match self.all_enqueued.load(Ordering::Relaxed) {
            0 => elapsed,
            nanos => Duration::from_nanos(nanos - 1),
        };
        Measurement {
            elapsed,
            enqueued,
            started: [percentile(50.0), percentile(99.0)],
            repeats: self.repeats.load(Ordering::Relaxed),
        }
    }
}

/// The first line of every job's body, in both contenders: records that job `n` started.
pub fn job_started(n: u64) {
    let current = CURRENT.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(run) = current.as_ref() {
        run.started(n);
    }
}

/// Polls `done` every millisecond until it says yes: how the bench learns that the store has
/// recorded every job as completed (neither contender announces that).
#[allow(dead_code)] // only the apalis child (bench/apalis-durable, which includes this file) polls
pub async fn until<E>(mut done: impl AsyncFnMut() -> Result<bool, E>) -> Result<(), E> {
    while !done().await? {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}
