//! apalis 1.0 on SQLite and PostgreSQL, run in a child process: `bench/apalis-durable`, a
//! workspace of its own. apalis-sqlite's sqlx 0.9 links SQLite through libsqlite3-sys < 0.38 and
//! qbwi's rusqlite 0.43 through 0.40; Cargo allows one crate per `links = "sqlite3"` in a
//! lockfile, so the two cannot be built into one binary. The child runs the same work
//! (`workload.rs`, included by path) on the same runtime shape, one run per process, and prints
//! its [`Measurement`].

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::stores::{Kind, Target};
use crate::workload::{Measurement, Mode};

/// The child's program, built.
#[derive(Debug)]
pub struct ApalisChild {
    program: PathBuf,
}

impl ApalisChild {
    /// Builds the child (`cargo build --release`, into this bench's target directory; minutes
    /// the first time, as it compiles sqlx).
    pub fn build() -> Result<ApalisChild, String> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("apalis-durable/Cargo.toml");
        let target_dir = target_dir()?;
        let cargo = std::env::var_os("CARGO")
            .or_else(|| option_env!("CARGO").map(Into::into))
            .unwrap_or_else(|| "cargo".into());
        eprintln!("building the apalis child ({}) ..", manifest.display());
        let status = Command::new(cargo)
            .args(["build", "--release", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            // sqlx's query macros in apalis check their SQL against DATABASE_URL's server if it
            // is set; the crates ship the checked queries, which this makes them use.
            .env("SQLX_OFFLINE", "true")
            .status()
            .map_err(|error| format!("cannot run cargo: {error}"))?;
        if !status.success() {
            return Err(format!("building {} failed ({status})", manifest.display()));
        }
        Ok(ApalisChild {
            program: target_dir.join("release").join("apalis-durable"),
        })
    }

    /// One run of `jobs` jobs on `target`, handed over as `mode` says.
    pub fn run(
        &self,
        kind: Kind,
        target: &Target,
        mode: Mode,
        jobs: u64,
    ) -> Result<Measurement, String> {
        let output = Command::new(&self.program)
            .args([kind.key(), mode.key(), &jobs.to_string(), &target.locator()])
            .output()
            .map_err(|error| format!("cannot run {}: {error}", self.program.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        match stdout.lines().find_map(Measurement::from_line) {
            Some(measurement) if output.status.success() => Ok(measurement),
            _ => Err(format!(
                "apalis failed ({}): {}",
                output.status,
                stderr.lines().last().unwrap_or("no message")
            )),
        }
    }
}

/// The target directory this bench was built in: `CARGO_TARGET_DIR`, or three levels above
/// this program (`<target>/release/deps/durable-<hash>`).
fn target_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(dir.into());
    }
    let exe = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("cannot find the target directory above {}", exe.display()))
}
