//! The five scenarios of issue 4: each runs every contender, one after another, repeats the
//! measurement, and prints one table with the medians and their ratio to raw tokio's.

use tokio::runtime::Runtime;

use crate::contender::{Contender, Measured, NotApplicable, runtime};
use crate::report::{Table, median, nanos, percentile, ratio, seconds, thousands};
use crate::{Config, work};

/// The contender every ratio is taken against.
const BASELINE: &str = "tokio";

/// A scenario: its key on the command line and what runs it.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The word that selects it on the command line.
    pub key: &'static str,
    /// Runs it and prints its table.
    pub run: fn(&[Box<dyn Contender>], &Config),
}

/// Every scenario, in the order.
pub const SCENARIOS: [Scenario; 5] = [
    Scenario {
        key: "throughput",
        run: throughput,
    },
    Scenario {
        key: "producers",
        run: two_producers,
    },
    Scenario {
        key: "latency",
        run: latency,
    },
    Scenario {
        key: "memory",
        run: memory,
    },
    Scenario {
        key: "shutdown",
        run: shutdown,
    },
];

/// Runs `measure` `reps` times, each on a fresh runtime with the run counters zeroed; stops at
/// the first "n/a". Prints each run's wall time on stderr, to show how steady the machine is.
fn repeat<T>(reps: usize, mut measure: impl FnMut(&Runtime) -> Measured<T>) -> Measured<Vec<T>> {
    (0..reps)
        .map(|_| {
            work::reset();
            let rt = runtime();
            let began = std::time::Instant::now();
            let result = measure(&rt);
            eprint!(" {}", nanos(began.elapsed().as_nanos() as f64));
            result
        })
        .collect()
}

/// Prints a scenario's title and what its ratios mean.
fn title(text: &str, ratios: &str) {
    println!("== {text}");
    println!("   ratio = {ratios}");
    println!();
}

/// The row of a contender that cannot run a scenario.
fn not_applicable(name: &str, columns: usize, why: NotApplicable) -> Vec<String> {
    let mut row = vec![name.to_owned()];
    row.extend((2..columns).map(|_| "n/a".to_owned()));
    row.push(why.0.to_owned());
    row
}

/// Each contender's figures, by name, with the baseline's looked up.
struct Results<T> {
    /// `(contender, its figures or why it has none)`, in run order.
    rows: Vec<(&'static str, Measured<T>)>,
}

impl<T> Results<T> {
    /// Measures every contender with `measure`, printing progress on stderr.
    fn collect(
        contenders: &[Box<dyn Contender>],
        mut measure: impl FnMut(&dyn Contender) -> Measured<T>,
    ) -> Self {
        let rows = contenders
            .iter()
            .map(|contender| {
                eprint!("   {}:", contender.name());
                let result = measure(contender.as_ref());
                eprintln!();
                (contender.name(), result)
            })
            .collect();
        Results { rows }
    }

    /// The baseline's figure, picked out by `pick`.
    fn baseline(&self, pick: impl Fn(&T) -> f64) -> Option<f64> {
        self.rows
            .iter()
            .find(|(name, _)| *name == BASELINE)
            .and_then(|(_, result)| result.as_ref().ok())
            .map(pick)
    }
}

/// Medians of a throughput measurement: seconds, and the spread of the repetitions.
#[derive(Debug, Clone, Copy)]
struct Rate {
    /// Median seconds for all the tasks.
    seconds: f64,
    /// (slowest − fastest) ÷ median, over the repetitions.
    spread: f64,
}

impl Rate {
    /// Summarises the repetitions' durations.
    fn of(times: &[std::time::Duration]) -> Self {
        let times: Vec<f64> = times.iter().copied().map(seconds).collect();
        let (fastest, slowest) = times
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        let seconds = median(&times);
        Rate {
            seconds,
            spread: (slowest - fastest) / seconds,
        }
    }
}

/// Prints a tasks-per-second table.
fn rate_table(results: &Results<Rate>, tasks: u64) {
    let baseline = results.baseline(|rate| tasks as f64 / rate.seconds);
    let header = ["contender", "tasks/s", "time", "spread", "vs tokio", "note"];
    let mut table = Table::new(&header);
    for (name, result) in &results.rows {
        match result {
            Ok(rate) => {
                let per_second = tasks as f64 / rate.seconds;
                table.row(vec![
                    (*name).to_owned(),
                    thousands(per_second),
                    nanos(rate.seconds * 1e9),
                    format!("{:.0}%", rate.spread * 100.0),
                    format!("{} tokio", ratio(per_second, baseline)),
                ]);
            }
            Err(why) => table.row(not_applicable(name, header.len(), *why)),
        }
    }
    table.print();
}

/// What recording metrics costs (`--features metrics`): `qbwi` and each `qbwi-metrics*` measured
/// again in turns, one run of each per round (which goes first rotates), so that the machine's load
/// changing between the rows of the table does not count; prints, for each, the median of the
/// rounds' ratios of tasks/s to `qbwi`'s, and their range.
fn metrics_cost(
    contenders: &[Box<dyn Contender>],
    config: &Config,
    measure: impl Fn(&dyn Contender, &Runtime) -> Measured<std::time::Duration>,
) {
    let Some(plain) = contenders.iter().position(|c| c.name() == "qbwi") else {
        return;
    };
    let metered: Vec<usize> = (0..contenders.len())
        .filter(|&i| contenders[i].name().starts_with("qbwi-metrics"))
        .collect();
    if metered.is_empty() {
        return;
    }
    let turns: Vec<usize> = std::iter::once(plain)
        .chain(metered.iter().copied())
        .collect();
    eprint!(
        "   in turns ({}):",
        turns
            .iter()
            .map(|&i| contenders[i].name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Per metered contender, each round's tasks/s ratio to qbwi's (the same tasks: the inverse
    // ratio of times).
    let mut ratios = vec![Vec::new(); metered.len()];
    for round in 0..config.reps {
        let mut times = vec![std::time::Duration::ZERO; contenders.len()];
        for step in 0..turns.len() {
            let index = turns[(round + step) % turns.len()];
            work::reset();
            let rt = runtime();
            match measure(contenders[index].as_ref(), &rt) {
                Ok(elapsed) => times[index] = elapsed,
                Err(_) => {
                    eprintln!();
                    return;
                }
            }
        }
        let shown: Vec<String> = turns
            .iter()
            .map(|&i| nanos(times[i].as_nanos() as f64))
            .collect();
        eprint!(" {}", shown.join("/"));
        for (ratio, &index) in ratios.iter_mut().zip(&metered) {
            ratio.push(seconds(times[plain]) / seconds(times[index]));
        }
    }
    eprintln!();
    for (ratios, &index) in ratios.iter().zip(&metered) {
        let (lowest, highest) = ratios
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        let ratio = median(ratios);
        println!(
            "   {} ÷ qbwi = {ratio:.2} in tasks/s (recording costs {:.1} %): median of {} rounds \
             run in turns, from {lowest:.2} to {highest:.2}",
            contenders[index].name(),
            (1.0 - ratio) * 100.0,
            ratios.len()
        );
    }
    println!();
}

/// Scenario 1: tasks queued from the bench's main task, all completed.
fn throughput(contenders: &[Box<dyn Contender>], config: &Config) {
    let tasks = config.scaled(1_000_000);
    title(
        &format!(
            "1. throughput: {} tasks queued from one thread (the bench's main task), all \
             completed; median of {}",
            thousands(tasks as f64),
            config.reps
        ),
        "tasks/s ÷ tokio's (higher is better); spread = (slowest − fastest run) ÷ median",
    );
    let results = Results::collect(contenders, |contender| {
        repeat(config.reps, |rt| contender.throughput(rt, tasks)).map(|times| Rate::of(&times))
    });
    rate_table(&results, tasks);
    metrics_cost(contenders, config, |contender, rt| {
        contender.throughput(rt, tasks)
    });
}

/// Scenario 2: two std threads queueing at once.
fn two_producers(contenders: &[Box<dyn Contender>], config: &Config) {
    let per_producer = config.scaled(500_000);
    title(
        &format!(
            "2. two producers: 2 std threads queue {} tasks each, concurrently, all completed; \
             median of {}",
            thousands(per_producer as f64),
            config.reps
        ),
        "tasks/s ÷ tokio's (higher is better); spread = (slowest − fastest run) ÷ median",
    );
    let results = Results::collect(contenders, |contender| {
        repeat(config.reps, |rt| contender.two_producers(rt, per_producer))
            .map(|times| Rate::of(&times))
    });
    rate_table(&results, 2 * per_producer);
    metrics_cost(contenders, config, |contender, rt| {
        contender.two_producers(rt, per_producer)
    });
}

/// Medians over the repetitions of the latency percentiles (nanoseconds).
#[derive(Debug, Clone, Copy)]
struct Percentiles {
    /// The queue call: p50, p99.
    queue_call: [f64; 2],
    /// Queued to started: p50, p99.
    queued_to_started: [f64; 2],
}

/// Scenario 3: the queue call and queued-to-started, at low load.
fn latency(contenders: &[Box<dyn Contender>], config: &Config) {
    let calls = config.scaled(100_000);
    work::prepare_latency(calls);
    title(
        &format!(
            "3. latency at low load: {} tasks queued in bursts of {}, each burst once the \
             previous one ran and the workers idled for {} µs; p50/p99 per run, median of {}",
            thousands(calls as f64),
            work::BURST,
            work::PAUSE.as_micros(),
            config.reps
        ),
        "time ÷ tokio's (lower is better)",
    );
    let results = Results::collect(contenders, |contender| {
        let runs = repeat(config.reps, |rt| contender.latency(rt, calls))?;
        let of = |pick: &dyn Fn(&crate::contender::Latencies) -> &Vec<u64>, p: f64| {
            median(
                &runs
                    .iter()
                    .map(|run| percentile(pick(run), p))
                    .collect::<Vec<_>>(),
            )
        };
        Ok(Percentiles {
            queue_call: [50.0, 99.0].map(|p| of(&|run| &run.queue_call, p)),
            queued_to_started: [50.0, 99.0].map(|p| of(&|run| &run.queued_to_started, p)),
        })
    });
    let header = [
        "contender",
        "queue p50",
        "queue p99",
        "started p50",
        "started p99",
        "note",
    ];
    let figures = |p: &Percentiles| [p.queue_call, p.queued_to_started].concat();
    let baseline: Vec<Option<f64>> = (0..4)
        .map(|i| results.baseline(|p| figures(p)[i]))
        .collect();
    let mut table = Table::new(&header);
    for (name, result) in &results.rows {
        match result {
            Ok(p) => {
                let mut row = vec![(*name).to_owned()];
                for (value, base) in figures(p).into_iter().zip(&baseline) {
                    row.push(format!("{} ({})", nanos(value), ratio(value, *base)));
                }
                table.row(row);
            }
            Err(why) => table.row(not_applicable(name, header.len(), *why)),
        }
    }
    table.print();
}

/// Medians over the repetitions of the memory scenario.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    /// Heap growth per pending task (bytes).
    per_task: f64,
    /// `size_of` the task's argument (bytes).
    argument: usize,
}

/// Scenario 4: bytes per pending task.
fn memory(contenders: &[Box<dyn Contender>], config: &Config) {
    let tasks = config.scaled(1_000_000);
    title(
        &format!(
            "4. memory: heap growth per pending task, {} tasks waiting behind one blocked task \
             (max_concurrency(1)); tokio: {} spawned tasks parked on a gate; median of {}",
            thousands(tasks as f64),
            thousands(tasks as f64),
            config.reps
        ),
        "bytes per task ÷ tokio's (lower is better); overhead = bytes per task − argument",
    );
    let results = Results::collect(contenders, |contender| {
        let runs = repeat(config.reps, |rt| contender.pending_memory(rt, tasks))?;
        let per_task: Vec<f64> = runs
            .iter()
            .map(|run| run.heap_growth as f64 / tasks as f64)
            .collect();
        Ok(Footprint {
            per_task: median(&per_task),
            argument: runs[0].argument_size,
        })
    });
    let baseline = results.baseline(|footprint| footprint.per_task);
    let header = [
        "contender",
        "bytes/task",
        "argument",
        "overhead",
        "vs tokio",
        "note",
    ];
    let mut table = Table::new(&header);
    for (name, result) in &results.rows {
        match result {
            Ok(footprint) => table.row(vec![
                (*name).to_owned(),
                format!("{:.1}", footprint.per_task),
                footprint.argument.to_string(),
                format!("{:.1}", footprint.per_task - footprint.argument as f64),
                format!("{} tokio", ratio(footprint.per_task, baseline)),
            ]),
            Err(why) => table.row(not_applicable(name, header.len(), *why)),
        }
    }
    table.print();
}

/// Medians over the repetitions of the shutdown scenario (nanoseconds).
#[derive(Debug, Clone, Copy)]
struct Shutdowns {
    /// Idle: p50, p99 of each repetition's samples.
    idle: [f64; 2],
    /// With running tasks that honour their token, or why not.
    busy: Measured<f64>,
}

/// Scenario 5: shutting down an idle host, and one with running tasks.
fn shutdown(contenders: &[Box<dyn Contender>], config: &Config) {
    let samples = config.scaled(2_000) as usize / config.reps.max(1);
    let running = config.scaled(10_000);
    title(
        &format!(
            "5. shutdown: idle (a fresh host each time, {} per run, p50/p99 per run) and with {} \
             running tasks that end when cancelled; median of {} runs",
            samples,
            thousands(running as f64),
            config.reps
        ),
        "time ÷ tokio's (lower is better); tokio: cancel the root token, close and wait",
    );
    let results = Results::collect(contenders, |contender| {
        let idle = repeat(config.reps, |rt| {
            (0..samples)
                .map(|_| {
                    contender
                        .idle_shutdown(rt)
                        .map(|elapsed| elapsed.as_nanos() as u64)
                })
                .collect::<Measured<Vec<u64>>>()
        })?;
        let busy = repeat(config.reps, |rt| contender.busy_shutdown(rt, running)).map(|runs| {
            median(
                &runs
                    .iter()
                    .map(|elapsed| elapsed.as_nanos() as f64)
                    .collect::<Vec<_>>(),
            )
        });
        Ok(Shutdowns {
            idle: [50.0, 99.0].map(|p| {
                median(
                    &idle
                        .iter()
                        .map(|run| percentile(run, p))
                        .collect::<Vec<_>>(),
                )
            }),
            busy,
        })
    });
    let idle_base = [0, 1].map(|i| results.baseline(|s| s.idle[i]));
    let busy_base = results
        .rows
        .iter()
        .find(|(name, _)| *name == BASELINE)
        .and_then(|(_, result)| result.as_ref().ok())
        .and_then(|s| s.busy.ok());
    let busy_title = format!("{} running", thousands(running as f64));
    let header = ["contender", "idle p50", "idle p99", &busy_title, "note"];
    let mut table = Table::new(&header);
    for (name, result) in &results.rows {
        match result {
            Ok(s) => {
                let mut row = vec![(*name).to_owned()];
                for (value, base) in s.idle.into_iter().zip(idle_base) {
                    row.push(format!("{} ({})", nanos(value), ratio(value, base)));
                }
                match s.busy {
                    Ok(value) => {
                        row.push(format!("{} ({})", nanos(value), ratio(value, busy_base)));
                        row.push(String::new());
                    }
                    Err(why) => {
                        row.push("n/a".to_owned());
                        row.push(format!("{busy_title}: {}", why.0));
                    }
                }
                table.row(row);
            }
            Err(why) => table.row(not_applicable(name, header.len(), *why)),
        }
    }
    table.print();
}
