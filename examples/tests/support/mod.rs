//! What the examples' end-to-end tests share: building an example and running it as a child
//! process with everything it prints, temporary directories, polling with generous bounds, and a
//! fake SMTP server that can hold mails mid-send (`smtp.rs`).
//!
//! Each test binary uses part of it.
#![allow(dead_code)]

mod smtp;

#[allow(unused_imports)] // not every test binary uses the fake SMTP server
pub use smtp::FakeSmtp;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The bound for anything that should take a fraction of a second (starting, answering, mailing)
/// or a few seconds (a lease expiring).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Every variable the examples read: cleared for each run, so that the environment the tests run
/// in (a developer's `DATABASE_URL`, say) cannot leak into them.
const EXAMPLE_VARIABLES: &[&str] = &[
    "PORT",
    "OUTBOX_DIR",
    "SMTP_URL",
    "DATABASE_URL",
    "QBWI_DB",
    "QBWI_LEASE_MS",
    "SEND_DELAY_MS",
    "RUST_LOG",
    "DASHBOARD_USER",
    "DASHBOARD_PASSWORD",
    "DASHBOARD_TOKEN",
    "REPORTS_DIR",
    "FEED_DEBOUNCE_MS",
];

/// The path of the compiled example `name`, built once per test binary.
///
/// Cargo tells integration tests where binaries are (`CARGO_BIN_EXE_<name>`), but not examples.
/// Instead of making the example a `[[bin]]` too (cargo warns about one file in two targets, and
/// the example would then be installed as a program), or guessing `target/debug/examples/NAME`
/// (wrong under `CARGO_TARGET_DIR`, `build.target-dir`, `--target` or another profile), the test
/// asks the cargo that runs it (`CARGO`) to build the example and reads the executable's path from
/// cargo's JSON messages. The test's own build has already compiled everything the example needs,
/// so this is quick, and cargo has released its build lock by the time tests run. `features` are
/// the example's `required-features`.
pub fn example_binary(name: &str, features: &[&str]) -> PathBuf {
    static BINARIES: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    // Held while building: the tests of one binary that start at once build the example once.
    let mut binaries = BINARIES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = binaries.get_or_insert_default().get(name) {
        return path.clone();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--example", name, "--message-format=json"])
        .arg("--manifest-path")
        .arg(&manifest);
    if !features.is_empty() {
        cargo.arg("--features").arg(features.join(","));
    }
    if !cfg!(debug_assertions) {
        cargo.arg("--release"); // match the profile the tests were built with
    }
    let output = cargo
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run cargo to build the {name} example: {error}"));
    assert!(
        output.status.success(),
        "`cargo build --example {name}` failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo's messages name no executable for the {name} example"));
    binaries
        .get_or_insert_default()
        .insert(name.to_owned(), path.clone());
    path
}

/// A running example with everything it prints.
pub struct App {
    child: Child,
    output: Arc<Mutex<String>>,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

impl App {
    /// Starts `binary` on a free port (`PORT=0`) with `env` (and none of the examples' other
    /// variables), and waits until it answers `GET /stats`.
    pub async fn start(binary: &Path, env: &[(&str, OsString)]) -> App {
        let mut app = App::spawn(binary, env);

        // The app logs its address once it is bound (PORT=0 lets the OS pick a free port).
        let marker = "listening on http://";
        let address = poll(PATIENCE, || {
            let output = app.output();
            let start = output.find(marker)? + marker.len();
            let address: String = output[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect();
            address.contains(':').then_some(address)
        })
        .await;
        let address = match address {
            Some(address) => address,
            None => panic!(
                "{} did not start listening:\n{}",
                binary.display(),
                app.output()
            ),
        };
        app.base = format!("http://{address}");

        let client = reqwest::Client::new();
        let ready = poll_async(PATIENCE, || client.get(app.url("/stats")).send()).await;
        assert!(
            ready,
            "{} does not answer:\n{}",
            binary.display(),
            app.output()
        );
        app
    }

    /// Starts `binary` as [`start`](Self::start) does, without waiting for anything.
    pub fn spawn(binary: &Path, env: &[(&str, OsString)]) -> App {
        let mut command = Command::new(binary);
        for name in EXAMPLE_VARIABLES {
            command.env_remove(name);
        }
        command
            .env("PORT", "0")
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        collect(stdout, output.clone());
        collect(stderr, output.clone());
        App {
            child,
            output,
            base: String::new(),
        }
    }

    /// Waits for the process to exit by itself (for at most `PATIENCE`), and returns how it
    /// exited and what it printed.
    pub async fn exit(mut self) -> (ExitStatus, String) {
        let exited = poll(PATIENCE, || self.child.try_wait().ok().flatten()).await;
        let Some(status) = exited else {
            panic!("the app did not exit by itself:\n{}", self.output());
        };
        // The output threads end with the process; give them a moment to drain the pipes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.output())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the app printed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `GET /stats`, as JSON.
    pub async fn stats(&self) -> Value {
        reqwest::Client::new()
            .get(self.url("/stats"))
            .send()
            .await
            .expect("GET /stats failed")
            .json()
            .await
            .expect("/stats is not JSON")
    }

    /// Polls `GET /stats` until `done` holds (or `PATIENCE` runs out), and returns the stats.
    pub async fn wait_for_stats(&self, mut done: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats = self.stats().await;
            if done(&stats) || Instant::now() > deadline {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to exit and its shutdown report.
    pub async fn terminate(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM failed");
        let exited = poll(PATIENCE, || self.child.try_wait().ok().flatten()).await;
        let Some(status) = exited else {
            panic!("the app did not exit after SIGTERM:\n{}", self.output());
        };
        // The output threads end with the process; give them a moment to drain the pipes.
        let output = poll(PATIENCE, || {
            let output = self.output();
            output.contains("shutdown report").then_some(output)
        })
        .await
        .unwrap_or_else(|| self.output());
        (status, output)
    }

    /// Kills the process with SIGKILL (no signal handler, no shutdown, no report: a crash) and
    /// waits for it to be gone. Returns what it printed.
    pub fn kill(mut self) -> String {
        self.child.kill().expect("cannot kill the app");
        let status = self.child.wait().expect("cannot wait for the killed app");
        assert!(!status.success(), "the app exited by itself: {status}");
        self.output()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // A failed test must not leave the server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Appends everything `stream` yields to `output`, on a thread of its own.
fn collect(stream: impl Read + Send + 'static, output: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut output = output.lock().unwrap_or_else(PoisonError::into_inner);
            output.push_str(&line);
            output.push('\n');
        }
    });
}

/// Calls `check` every 50 ms until it returns `Some`, for at most `bound`.
pub async fn poll<T>(bound: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a request every 50 ms until one gets any answer, for at most `bound`.
async fn poll_async<F>(bound: Duration, mut request: impl FnMut() -> F) -> bool
where
    F: Future<Output = reqwest::Result<reqwest::Response>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if request().await.is_ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh, empty directory under the system's temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let path =
            std::env::temp_dir().join(format!("qbwi-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("cannot create a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The contents of the `.eml` files in the directory.
    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Does `mail` look like the welcome mail to `to`, attachment included?
pub fn is_welcome_mail(mail: &str, to: &str) -> bool {
    mail.contains(&format!("To: {to}"))
        && mail.contains("Subject: Welcome to qbwi")
        && mail.contains("filename=\"welcome.txt\"")
}

/// POSTs to `/signup` and returns the status and the JSON answer.
pub async fn signup(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("POST /signup failed");
    let status = response.status().as_u16();
    let body = response
        .json::<Value>()
        .await
        .expect("the answer is not JSON");
    (status, body)
}
