//! The durable benchmark: jobs enqueued and completed per second on SQLite and on PostgreSQL, by
//! qbwi and by apalis 1.0, beside the floor (the same jobs inserted raw, one commit each: what the
//! store itself does; `floor.rs`), with enqueue-to-start latency; single inserts, 64 concurrent
//! single inserts, and batched. Each row gives the enqueue rate (first hand-over to last commit)
//! and the end-to-end rate (to the store holding every job as completed), and the ratios to the
//! floor and to apalis, all from one run.
//!
//! ```text
//! cargo bench -p qbwi-bench --bench durable --features apalis       # everything
//! cargo bench -p qbwi-bench --bench durable -- sqlite batched       # one store, one mode, qbwi
//! SCALE=0.2 cargo bench -p qbwi-bench --bench durable               # sizes × 0.2
//! ```
//!
//! Words after `--` select stores (`sqlite`, `postgres`), modes (`single`, `concurrent`,
//! `batched`) and contenders (`qbwi`, `apalis`, `floor`). `SCALE=x` multiplies every size (`QUICK=1` or
//! `--quick`: ÷ 10); `REPS=n` sets the repetitions (default 3). Every run gets a fresh store: a new
//! SQLite file, or a new database on a throwaway PostgreSQL server (`qbwi-test-postgres`; set
//! `QBWI_TEST_DATABASE_URL` to use your own server instead), run as users run it: `fsync` and
//! `synchronous_commit` on (`fsync-off`: both off, as qbwi's tests run it; the header says which). Without PostgreSQL the PostgreSQL
//! part is skipped with the reason. Progress goes to stderr, the tables to stdout.
//!
//! apalis runs in a child process built from `bench/apalis-durable` (its own workspace; see
//! `apalis_child.rs` for why): the first run with `--features apalis` builds it, which takes a few
//! minutes (sqlx).

#[cfg(feature = "apalis")]
mod apalis_child;
mod floor;
mod listing;
#[path = "../common/machine.rs"]
mod machine;
mod qbwi_durable;
#[path = "../common/report.rs"]
#[allow(dead_code)] // shared with the throughput bench, which uses all of it
mod report;
mod stores;
mod workload;

use std::process::ExitCode;
use std::time::Instant;

use report::{Table, median, nanos, ratio, thousands};
use stores::{Kind, Stores, Target};
use workload::{BATCH, Measurement, Mode, PRODUCERS};

/// What the command line and the environment asked for.
#[derive(Debug)]
struct Config {
    /// Every size is multiplied by this.
    scale: f64,
    /// Repetitions of each measurement; tables show medians.
    reps: usize,
    stores: Vec<Kind>,
    modes: Vec<Mode>,
    /// `qbwi`, `apalis`: the contenders to run (all if empty).
    contenders: Vec<String>,
    /// `listing`: only the listings at a million jobs; `no-listing`: everything but them.
    listing: bool,
    no_listing: bool,
    /// `fsync-off`: PostgreSQL as qbwi's tests run it (no waiting for the disk), not as users do.
    fsync_off: bool,
}

impl Config {
    /// Jobs per run of `mode` on `kind`: sized so that the slower contender takes a few
    /// seconds. SQLite's are smaller because apalis-sqlite slows down as its table grows: its
    /// acknowledgement (`UPDATE Jobs .. FROM json_each(?)`) parses the acknowledged batch again for
    /// every row of the table, done jobs included (5,000 batched jobs take it 5x as long as
    /// 2,000).
    fn jobs(&self, kind: Kind, mode: Mode) -> u64 {
        let full = match (kind, mode) {
            (_, Mode::Single) => 2_000.0,
            (Kind::Sqlite, Mode::Concurrent | Mode::Batched) => 4_000.0,
            (Kind::Postgres, Mode::Concurrent) => 10_000.0,
            (Kind::Postgres, Mode::Batched) => 20_000.0,
        };
        ((full * self.scale) as u64).max(1)
    }

    fn runs(&self, contender: &str) -> bool {
        self.contenders.is_empty() || self.contenders.iter().any(|name| name == contender)
    }
}

/// Reads the command line (cargo adds `--bench`; other `--` flags are ignored) and environment.
fn config() -> Result<Config, String> {
    let env_flag = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
    let mut scale = match std::env::var("SCALE") {
        Ok(scale) => scale
            .parse::<f64>()
            .ok()
            .filter(|&scale| scale > 0.0)
            .ok_or(format!("SCALE={scale}: expected a positive number"))?,
        Err(_) => 1.0,
    };
    if env_flag("QUICK") {
        scale /= 10.0;
    }
    let reps = match std::env::var("REPS") {
        Ok(reps) => reps
            .parse()
            .ok()
            .filter(|&reps| reps > 0)
            .ok_or(format!("REPS={reps}: expected a positive number"))?,
        Err(_) => 3,
    };
    let mut config = Config {
        scale,
        reps,
        stores: Vec::new(),
        modes: Vec::new(),
        contenders: Vec::new(),
        listing: false,
        no_listing: false,
        fsync_off: false,
    };
    for arg in std::env::args().skip(1) {
        let word = arg.to_lowercase();
        if word == "--quick" || word == "quick" {
            config.scale /= 10.0;
        } else if word.starts_with('-') {
            continue; // `--bench` from cargo, and libtest-style flags
        } else if let Some(kind) = Kind::ALL.into_iter().find(|kind| kind.key() == word) {
            config.stores.push(kind);
        } else if let Some(mode) = Mode::parse(&word) {
            config.modes.push(mode);
        } else if word == "qbwi" || word == "apalis" || word == "floor" {
            config.contenders.push(word);
        } else if word == "listing" {
            config.listing = true;
        } else if word == "no-listing" {
            config.no_listing = true;
        } else if word == "fsync-off" {
            config.fsync_off = true;
        } else {
            return Err(format!(
                "unknown argument `{arg}`: expected stores (sqlite, postgres), modes (single, \
                 concurrent, batched), contenders (qbwi, apalis, floor), listing, no-listing, fsync-off, or --quick"
            ));
        }
    }
    if config.stores.is_empty() {
        config.stores = Kind::ALL.to_vec();
    }
    if config.modes.is_empty() {
        config.modes = Mode::ALL.to_vec();
    }
    Ok(config)
}

/// Who runs the jobs.
enum Contender {
    Qbwi,
    /// qbwi with `retention(Duration::ZERO)`: completed jobs deleted at once, as before the
    /// history existed; beside `Qbwi`, it shows what keeping the history costs.
    QbwiWithoutHistory,
    #[cfg(feature = "apalis")]
    Apalis(apalis_child::ApalisChild),
    /// The store alone: the same jobs inserted raw, one commit each (see `floor.rs`).
    Floor,
}

impl Contender {
    fn name(&self) -> &'static str {
        match self {
            Contender::Qbwi => "qbwi",
            Contender::QbwiWithoutHistory => "qbwi, retention 0",
            #[cfg(feature = "apalis")]
            Contender::Apalis(_) => "apalis",
            Contender::Floor => "floor",
        }
    }

    /// One run, on a fresh 2-worker runtime (the apalis child makes the same one).
    #[cfg_attr(not(feature = "apalis"), allow(unused_variables))]
    fn measure(
        &self,
        kind: Kind,
        target: &Target,
        mode: Mode,
        jobs: u64,
    ) -> Result<Measurement, String> {
        match self {
            Contender::Qbwi => qbwi_durable::run(&runtime(), target, mode, jobs, None),
            Contender::QbwiWithoutHistory => qbwi_durable::run(
                &runtime(),
                target,
                mode,
                jobs,
                Some(std::time::Duration::ZERO),
            ),
            #[cfg(feature = "apalis")]
            Contender::Apalis(child) => child.run(kind, target, mode, jobs),
            Contender::Floor => floor::run(&runtime(), target, mode, jobs),
        }
    }
}

/// A fresh multi-thread runtime with 2 worker threads: the machine has 2 cores.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The contenders of this build that the command line selected.
fn contenders(config: &Config) -> Result<Vec<Contender>, String> {
    let mut all = Vec::new();
    if config.runs("qbwi") {
        all.push(Contender::Qbwi);
        all.push(Contender::QbwiWithoutHistory);
    }
    #[cfg(feature = "apalis")]
    if config.runs("apalis") {
        all.push(Contender::Apalis(apalis_child::ApalisChild::build()?));
    }
    if config.runs("floor") {
        all.push(Contender::Floor);
    }
    Ok(all)
}

/// Medians over the repetitions of one contender in one scenario.
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// Jobs per second (median run), end to end.
    per_second: f64,
    /// Jobs committed per second, from the first hand-over to the last commit (median).
    enqueue_per_second: f64,
    /// Median seconds.
    seconds: f64,
    /// (slowest − fastest run) ÷ median.
    spread: f64,
    /// Enqueue-to-start p50 and p99, medians of the runs' (ns).
    started: [f64; 2],
    /// Repeated job runs, over all repetitions.
    repeats: u64,
}

impl Summary {
    fn of(runs: &[Measurement], jobs: u64) -> Summary {
        let times: Vec<f64> = runs.iter().map(|run| run.elapsed.as_secs_f64()).collect();
        let (fastest, slowest) = times
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let seconds = median(&times);
        let percentile = |i: usize| {
            median(
                &runs
                    .iter()
                    .map(|run| run.started[i] as f64)
                    .collect::<Vec<_>>(),
            )
        };
        let enqueue_times: Vec<f64> = runs.iter().map(|run| run.enqueued.as_secs_f64()).collect();
        Summary {
            per_second: jobs as f64 / seconds,
            enqueue_per_second: jobs as f64 / median(&enqueue_times),
            seconds,
            spread: (slowest - fastest) / seconds,
            started: [percentile(0), percentile(1)],
            repeats: runs.iter().map(|run| run.repeats).sum(),
        }
    }
}

/// One store and mode: every contender's summary, or why it has none.
struct Scenario {
    kind: Kind,
    mode: Mode,
    jobs: u64,
    results: Vec<(&'static str, Result<Summary, String>)>,
}

impl Scenario {
    /// The baseline of the ratios: apalis's figure, picked by `pick`.
    fn apalis(&self, pick: impl Fn(&Summary) -> f64) -> Option<f64> {
        self.results
            .iter()
            .find(|(name, _)| *name == "apalis")
            .and_then(|(_, result)| result.as_ref().ok())
            .map(pick)
    }

    fn qbwi(&self) -> Option<&Summary> {
        self.of("qbwi")
    }

    fn of(&self, contender: &str) -> Option<&Summary> {
        self.results
            .iter()
            .find(|(name, _)| *name == contender)
            .and_then(|(_, result)| result.as_ref().ok())
    }
}

/// What `mode` does, for the titles.
fn describe(mode: Mode) -> String {
    match mode {
        Mode::Single => "one producer, each enqueue awaited (committed) before the next".to_owned(),
        Mode::Concurrent => {
            format!("{PRODUCERS} producers, each awaiting its enqueues one after another")
        }
        Mode::Batched => format!(
            "qbwi: `queue_durable` every job, then await `persisted()`; apalis: `push_bulk` of \
             {} at a time",
            thousands(BATCH as f64)
        ),
    }
}

/// Runs one store and mode for every contender and prints its table.
fn scenario(
    config: &Config,
    stores: &mut Stores,
    contenders: &[Contender],
    kind: Kind,
    mode: Mode,
) -> Scenario {
    let jobs = config.jobs(kind, mode);
    println!(
        "== {}, {}: {} jobs; {}; median of {}",
        kind.name(),
        mode.key(),
        thousands(jobs as f64),
        describe(mode),
        config.reps
    );
    println!("   ratio = qbwi ÷ apalis: jobs/s (higher is better), latency (lower is better)");
    println!();
    // Repetitions interleave the contenders (a, b, a, b, ..), so that the machine's drift over
    // a scenario (other load, the disk's cache, thermal limits) weighs on each alike, and ratios
    // measured in one run hold.
    let mut runs: Vec<Result<Vec<Measurement>, String>> =
        contenders.iter().map(|_| Ok(Vec::new())).collect();
    let mut times: Vec<String> = contenders.iter().map(|_| String::new()).collect();
    for rep in 0..config.reps {
        for (index, contender) in contenders.iter().enumerate() {
            let Ok(done) = &mut runs[index] else {
                continue; // failed already: the reason is printed below
            };
            let label = format!("{}-{}-{rep}", contender.name(), mode.key());
            let began = Instant::now();
            let measured = stores
                .fresh(kind, &label)
                .and_then(|target| contender.measure(kind, &target, mode, jobs));
            times[index].push_str(&format!(" {}", nanos(began.elapsed().as_nanos() as f64)));
            match measured {
                Ok(measurement) => done.push(measurement),
                Err(why) => runs[index] = Err(why),
            }
        }
    }
    let mut results = Vec::new();
    for ((contender, runs), times) in contenders.iter().zip(runs).zip(times) {
        eprintln!(
            "   {} {} {}:{times}",
            kind.key(),
            mode.key(),
            contender.name()
        );
        if let Err(why) = &runs {
            eprintln!("   {}: {why}", contender.name());
        }
        results.push((contender.name(), runs.map(|runs| Summary::of(&runs, jobs))));
    }
    let scenario = Scenario {
        kind,
        mode,
        jobs,
        results,
    };
    print_scenario(&scenario);
    scenario
}

fn print_scenario(scenario: &Scenario) {
    let base_rate = scenario.apalis(|s| s.per_second);
    let base_enqueue = scenario.apalis(|s| s.enqueue_per_second);
    let base_started = [0, 1].map(|i| scenario.apalis(|s| s.started[i]));
    let floor = scenario.of("floor").map(|s| s.enqueue_per_second);
    let header = [
        "contender",
        "jobs/s",
        "enqueue/s",
        "÷ floor",
        "time",
        "spread",
        "started p50",
        "started p99",
        "note",
    ];
    let mut table = Table::new(&header);
    for (name, result) in &scenario.results {
        match result {
            Ok(s) => {
                let mut row = vec![
                    (*name).to_owned(),
                    format!(
                        "{} ({})",
                        thousands(s.per_second),
                        ratio(s.per_second, base_rate)
                    ),
                    format!(
                        "{} ({})",
                        thousands(s.enqueue_per_second),
                        ratio(s.enqueue_per_second, base_enqueue)
                    ),
                    floor.map_or("-".to_owned(), |floor| {
                        format!("{:.2}", s.enqueue_per_second / floor)
                    }),
                    nanos(s.seconds * 1e9),
                    format!("{:.0}%", s.spread * 100.0),
                ];
                for (value, base) in s.started.into_iter().zip(base_started) {
                    row.push(format!("{} ({})", nanos(value), ratio(value, base)));
                }
                if s.repeats > 0 {
                    row.push(format!("{} jobs ran twice", s.repeats));
                }
                table.row(row);
            }
            Err(why) => {
                let mut row = vec![(*name).to_owned()];
                row.extend((2..header.len()).map(|_| "n/a".to_owned()));
                row.push(why.lines().next().unwrap_or("failed").to_owned());
                table.row(row);
            }
        }
    }
    table.print();
}

/// The closing table: every scenario on one line each, qbwi beside apalis.
fn print_summary(scenarios: &[Scenario]) {
    println!(
        "== summary: enqueue/s (qbwi ÷ floor, qbwi ÷ apalis), end-to-end jobs/s, enqueue-to-start \
         p50 / p99"
    );
    println!();
    let header = [
        "store, mode",
        "jobs",
        "qbwi enqueue/s",
        "floor/s",
        "qbwi ÷ floor",
        "apalis enqueue/s",
        "qbwi ÷ apalis",
        "qbwi jobs/s",
        "apalis jobs/s",
        "qbwi ÷ apalis",
        "qbwi p50 / p99",
        "apalis p50 / p99",
        "history's cost",
    ];
    let mut table = Table::new(&header);
    let rate = |s: Option<&Summary>| s.map_or("n/a".to_owned(), |s| thousands(s.per_second));
    let latency = |s: Option<&Summary>| {
        s.map_or("n/a".to_owned(), |s| {
            format!("{} / {}", nanos(s.started[0]), nanos(s.started[1]))
        })
    };
    for scenario in scenarios {
        let apalis = scenario
            .results
            .iter()
            .find(|(name, _)| *name == "apalis")
            .and_then(|(_, result)| result.as_ref().ok());
        let qbwi = scenario.qbwi();
        let floor = scenario.of("floor");
        let enqueue =
            |s: Option<&Summary>| s.map_or("n/a".to_owned(), |s| thousands(s.enqueue_per_second));
        let over = |a: Option<&Summary>, b: Option<&Summary>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}×", a.enqueue_per_second / b.enqueue_per_second),
            _ => "-".to_owned(),
        };
        table.row(vec![
            format!("{}, {}", scenario.kind.name(), scenario.mode.key()),
            thousands(scenario.jobs as f64),
            enqueue(qbwi),
            enqueue(floor),
            over(qbwi, floor),
            enqueue(apalis),
            over(qbwi, apalis),
            rate(qbwi),
            rate(apalis),
            qbwi.map_or("-".to_owned(), |q| {
                ratio(q.per_second, apalis.map(|a| a.per_second))
            }),
            latency(qbwi),
            latency(apalis),
            // qbwi (history kept) ÷ qbwi (retention 0): below 1 is what the history costs.
            match (qbwi, scenario.of("qbwi, retention 0")) {
                (Some(kept), Some(none)) => format!("{:.2}×", kept.per_second / none.per_second),
                _ => "-".to_owned(),
            },
        ]);
    }
    table.print();
}

/// Prints what the numbers below were measured on.
fn print_header(config: &Config, stores: &Stores, contenders: &[Contender]) {
    machine::print_header("qbwi durable benchmark: jobs enqueued and completed per second");
    println!(
        "  runtime   a fresh tokio multi-thread runtime with 2 workers per run (apalis: in its \
         child process); medians of {} runs, each on a fresh store",
        config.reps
    );
    let names: Vec<&str> = contenders.iter().map(Contender::name).collect();
    println!("  contenders {}", names.join(", "));
    if cfg!(feature = "apalis") {
        println!(
            "             apalis 1.0 (apalis-sqlite, apalis-postgres 1.0.0) as its READMEs set it \
             up: woken by SQLite's update hook / PostgreSQL's NOTIFY plus a 100 ms poll; fetches \
             128 at a time, lock_tasks(false); see bench/apalis-durable/src/main.rs"
        );
    } else {
        println!("             (apalis skipped: add `--features apalis`)");
    }
    println!(
        "  stores    SQLite: a new file per run in {} (WAL; qbwi: synchronous=NORMAL, its own \
         setting; apalis: the same, set on its pool)",
        std::env::temp_dir().display()
    );
    match (stores.postgres_description(), stores.postgres_missing()) {
        (Some(server), _) => println!("            PostgreSQL: a new database per run on {server}"),
        (None, Some(why)) => println!("            PostgreSQL: skipped: {why}"),
        (None, None) => {}
    }
    println!(
        "  job       one u64; its body records when it started. Timed from the first enqueue \
         to the store holding every job as completed (qbwi: `wait_idle`; apalis: polled every 1 ms once all started)"
    );
    println!();
}

fn main() -> ExitCode {
    let config = match config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let contenders = match contenders(&config) {
        Ok(contenders) => contenders,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let mut stores = match Stores::open(config.stores.contains(&Kind::Postgres), config.fsync_off) {
        Ok(stores) => stores,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    print_header(&config, &stores, &contenders);
    let mut scenarios = Vec::new();
    for &kind in &config.stores {
        if kind == Kind::Postgres && stores.postgres_missing().is_some() || config.listing {
            continue;
        }
        for &mode in &config.modes {
            scenarios.push(scenario(&config, &mut stores, &contenders, kind, mode));
        }
    }
    if !config.listing {
        print_summary(&scenarios);
    }
    if !config.no_listing {
        let rows = ((1_000_000.0 * config.scale) as u64).max(1_000);
        for &kind in &config.stores {
            if kind == Kind::Postgres && stores.postgres_missing().is_some() {
                continue;
            }
            if let Err(why) = listing::run(&runtime(), &mut stores, kind, rows) {
                eprintln!("   {} listing: {why}", kind.key());
            }
        }
    }
    ExitCode::SUCCESS
}
