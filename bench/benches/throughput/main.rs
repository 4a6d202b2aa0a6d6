//! The benchmark of issue 4: qbwi against raw tokio (the limit), apalis (a peer) and a bare
//! channel (the floor), all in one process, one after another, each on a fresh 2-worker runtime.
//!
//! ```text
//! cargo bench -p qbwi-bench --bench throughput --features apalis        # everything
//! cargo bench -p qbwi-bench --bench throughput -- throughput qbwi       # one scenario, qbwi
//! QUICK=1 cargo bench -p qbwi-bench --bench throughput                  # sizes ÷ 10, no apalis
//! cargo bench -p qbwi-bench --bench throughput --features metrics -- throughput producers qbwi \
//!     qbwi-metrics qbwi-metrics-atomic
//! ```
//!
//! Words after `--` select scenarios (`throughput`, `producers`, `latency`, `memory`,
//! `shutdown`) and contenders (`qbwi`, `qbwi-metrics` and `qbwi-metrics-atomic` with
//! `--features metrics`, `apalis`, `floor`; `tokio`, the baseline of every ratio, always runs).
//! With `--features metrics`, `qbwi` is built with qbwi's metrics but nothing records its task,
//! `qbwi-metrics` is the same recorded by a Prometheus recorder, `qbwi-metrics-atomic` by one that
//! keeps them in atomics: the throughput tables end with their ratios to `qbwi`. `--quick` or `QUICK=1` shrinks every size 10x; `REPS=n` sets the repetitions
//! (default 5). Each run's wall time goes to stderr, the tables to stdout. Nothing here asserts a
//! time: the asserts check that every contender ran every task.

mod alloc;
#[cfg(feature = "apalis")]
mod apalis_worker;
mod contender;
mod floor;
#[path = "../common/machine.rs"]
mod machine;
mod qbwi_host;
#[cfg(feature = "metrics")]
mod qbwi_metered;
mod raw_tokio;
#[path = "../common/report.rs"]
mod report;
mod scenarios;
mod work;

use std::process::ExitCode;

use contender::Contender;
use scenarios::SCENARIOS;

/// Counts the live heap for the memory scenario.
#[global_allocator]
static ALLOCATOR: alloc::CountingAllocator = alloc::CountingAllocator;

/// What the command line and the environment asked for.
#[derive(Debug)]
pub struct Config {
    /// Sizes ÷ 10, for a smoke run.
    quick: bool,
    /// Repetitions of each measurement; tables show medians.
    reps: usize,
    /// The scenarios to run, by key (all if empty).
    scenarios: Vec<String>,
    /// The contenders to run besides the baseline, by name (all if empty).
    contenders: Vec<String>,
}

impl Config {
    /// `full`, or a tenth of it in a quick run.
    pub fn scaled(&self, full: u64) -> u64 {
        if self.quick { full / 10 } else { full }
    }
}

/// Every contender this build has, in the order they run.
fn contenders() -> Vec<Box<dyn Contender>> {
    let mut all: Vec<Box<dyn Contender>> = vec![Box::new(qbwi_host::Qbwi)];
    #[cfg(feature = "metrics")]
    all.push(Box::new(qbwi_metered::QbwiMetered::PROMETHEUS));
    #[cfg(feature = "metrics")]
    all.push(Box::new(qbwi_metered::QbwiMetered::ATOMIC));
    all.push(Box::new(raw_tokio::RawTokio));
    #[cfg(feature = "apalis")]
    all.push(Box::new(apalis_worker::Apalis));
    all.push(Box::new(floor::Floor));
    all
}

/// Reads the command line (cargo adds `--bench`; other `--` flags are ignored) and environment.
fn config(names: &[&str]) -> Result<Config, String> {
    let env_flag = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
    let mut config = Config {
        quick: env_flag("QUICK"),
        reps: match std::env::var("REPS") {
            Ok(reps) => reps
                .parse()
                .ok()
                .filter(|&reps| reps > 0)
                .ok_or(format!("REPS={reps}: expected a positive number"))?,
            Err(_) => 5,
        },
        scenarios: Vec::new(),
        contenders: Vec::new(),
    };
    for arg in std::env::args().skip(1) {
        let word = arg.to_lowercase();
        if word == "--quick" || word == "quick" {
            config.quick = true;
        } else if word.starts_with('-') {
            continue; // `--bench` from cargo, and libtest-style flags
        } else if SCENARIOS.iter().any(|scenario| scenario.key == word) {
            config.scenarios.push(word);
        } else if names.contains(&word.as_str()) {
            config.contenders.push(word);
        } else {
            let scenarios: Vec<&str> = SCENARIOS.iter().map(|scenario| scenario.key).collect();
            return Err(format!(
                "unknown argument `{arg}`: expected scenarios ({}), contenders ({}), or --quick",
                scenarios.join(", "),
                names.join(", ")
            ));
        }
    }
    Ok(config)
}

/// Prints what the numbers below were measured on.
fn print_machine(config: &Config, contenders: &[Box<dyn Contender>]) {
    machine::print_header("qbwi throughput benchmark (issue 4)");
    println!(
        "  runtime   a fresh tokio multi-thread runtime with 2 workers per measurement; \
         medians of {} runs{}",
        config.reps,
        if config.quick {
            "; QUICK: sizes ÷ 10"
        } else {
            ""
        }
    );
    let names: Vec<&str> = contenders
        .iter()
        .map(|contender| contender.name())
        .collect();
    println!("  contenders {}", names.join(", "));
    if !cfg!(feature = "apalis") {
        println!("             (apalis skipped: add `--features apalis`)");
    }
    if cfg!(feature = "metrics") {
        println!(
            "  metrics   qbwi built with feature `metrics`: `qbwi` records into no recorder, \
             `qbwi-metrics` into a Prometheus one (no exporter), `qbwi-metrics-atomic` into atomics"
        );
    } else {
        println!("  metrics   qbwi built without feature `metrics` (add `--features metrics`)");
    }
    println!(
        "  body      `black_box(format!(\"hello {{n}}\"))`, the same for every contender; every \
         contender is checked to have run every task"
    );
    println!();
}

fn main() -> ExitCode {
    let all = contenders();
    let names: Vec<&str> = all.iter().map(|contender| contender.name()).collect();
    let config = match config(&names) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let contenders: Vec<Box<dyn Contender>> = all
        .into_iter()
        .filter(|contender| {
            config.contenders.is_empty()
                || contender.name() == "tokio"
                || config
                    .contenders
                    .iter()
                    .any(|name| name == contender.name())
        })
        .collect();
    print_machine(&config, &contenders);
    for scenario in SCENARIOS {
        if config.scenarios.is_empty() || config.scenarios.iter().any(|key| key == scenario.key) {
            (scenario.run)(&contenders, &config);
        }
    }
    ExitCode::SUCCESS
}
