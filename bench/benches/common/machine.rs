//! What the numbers were measured on: the lines every bench of this package prints first.

use std::time::{SystemTime, UNIX_EPOCH};

/// Prints the title, then the machine, date, load, commit and build, one line each.
pub fn print_header(title: &str) {
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    println!("{title}");
    println!(
        "  machine   {cores} cores (available_parallelism), {}",
        cpu_model().unwrap_or_else(|| "cpu unknown".to_owned())
    );
    println!("  date      {}", utc_now());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "  load      {} (1, 5, 15 min) before the run",
            load.join(" ")
        );
    }
    if let Some(commit) = first_line("git", &["describe", "--always", "--dirty"]) {
        println!("  commit    {commit}");
    }
    println!(
        "  build     {}",
        if cfg!(debug_assertions) {
            "DEBUG: these numbers mean nothing, run `cargo bench`"
        } else {
            "optimised (cargo bench: the `bench` profile)"
        }
    );
}

/// Runs the shell command `program args` and returns its first line of output, if any.
pub fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.lines()
        .next()
        .map(str::trim)
        .map(str::to_owned)
        .filter(|line| !line.is_empty())
}

/// The CPU's model name, from `/proc/cpuinfo`.
fn cpu_model() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

/// Today's date and time in UTC, `YYYY-MM-DD HH:MM UTC`, from the system clock.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (days, time) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        time / 3600,
        time % 3600 / 60
    )
}
