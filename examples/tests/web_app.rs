//! End to end: the compiled `web_app` example, driven over real HTTP, writing real `.eml` files or
//! speaking real SMTP to a small server in this test, and stopped with a real SIGTERM.
//!
//! Every wait polls against a generous bound, so a slow machine makes a test slower, not flaky.

#![cfg(unix)] // SIGTERM via `kill`

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpListener;

/// The bound for anything that should take a fraction of a second: starting, answering, mailing.
const PATIENCE: Duration = Duration::from_secs(60);

/// The path of the compiled `web_app` example, built once per test run.
///
/// Cargo tells integration tests where binaries are (`CARGO_BIN_EXE_<name>`), but not examples.
/// Instead of making the example a `[[bin]]` too (cargo warns about one file in two targets, and
/// the example would then be installed as a program), or guessing `target/debug/examples/web_app`
/// (wrong under `CARGO_TARGET_DIR`, `build.target-dir`, `--target` or another profile), the test
/// asks the cargo that runs it (`CARGO`) to build the example and reads the executable's path from
/// cargo's JSON messages. The test's own build has already compiled everything the example needs,
/// so this is quick, and cargo has released its build lock by the time tests run.
fn web_app_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args(["build", "--example", "web_app", "--message-format=json"])
            .arg("--manifest-path")
            .arg(&manifest);
        if !cfg!(debug_assertions) {
            cargo.arg("--release"); // match the profile the tests were built with
        }
        let output = cargo
            .stdin(Stdio::null())
            .output()
            .expect("cannot run cargo to build the web_app example");
        assert!(
            output.status.success(),
            "`cargo build --example web_app` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|message| message["reason"] == "compiler-artifact")
            .filter(|message| message["target"]["name"] == "web_app")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo's messages name no executable for the web_app example")
    })
}

/// A running `web_app` with everything it prints.
struct WebApp {
    child: Child,
    output: Arc<Mutex<String>>,
    /// `http://127.0.0.1:PORT`.
    base: String,
}

impl WebApp {
    /// Starts the example on a free port (`PORT=0`) and waits until it accepts connections.
    async fn start(outbox: &Path, smtp_url: Option<&str>) -> WebApp {
        let mut command = Command::new(web_app_binary());
        command
            .env("PORT", "0")
            .env("OUTBOX_DIR", outbox)
            .env_remove("SMTP_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = smtp_url {
            command.env("SMTP_URL", url);
        }
        let mut child = command.spawn().expect("cannot start the web_app example");
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        collect(stdout, output.clone());
        collect(stderr, output.clone());
        let mut app = WebApp {
            child,
            output,
            base: String::new(),
        };

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
            None => panic!("web_app did not start listening:\n{}", app.output()),
        };
        app.base = format!("http://{address}");

        let client = reqwest::Client::new();
        let ready = poll_async(PATIENCE, || client.get(app.url("/stats")).send()).await;
        assert!(ready, "web_app does not answer:\n{}", app.output());
        app
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the app printed so far.
    fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Polls `GET /stats` until `completed` reaches `count`, and returns the stats.
    async fn wait_for_completed(&self, count: u64) -> Value {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats: Value = client
                .get(self.url("/stats"))
                .send()
                .await
                .expect("GET /stats failed")
                .json()
                .await
                .expect("/stats is not JSON");
            if stats["completed"].as_u64() >= Some(count) || Instant::now() > deadline {
                assert_eq!(stats["completed"], count, "{stats}\n{}", self.output());
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    async fn terminate(mut self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM failed");
        let exited = poll(PATIENCE, || self.child.try_wait().ok().flatten()).await;
        let Some(status) = exited else {
            panic!("web_app did not exit after SIGTERM:\n{}", self.output());
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
}

impl Drop for WebApp {
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
async fn poll<T>(bound: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
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
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let path =
            std::env::temp_dir().join(format!("qbwi-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("cannot create a temp dir");
        TempDir(path)
    }

    /// The contents of the `.eml` files in the directory.
    fn mails(&self) -> Vec<String> {
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
fn is_welcome_mail(mail: &str, to: &str) -> bool {
    mail.contains(&format!("To: {to}"))
        && mail.contains("Subject: Welcome to qbwi")
        && mail.contains("filename=\"welcome.txt\"")
}

/// POSTs to `/signup` and returns the status and the JSON answer.
async fn signup(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("POST /signup failed");
    let status = response.status().as_u16();
    let body = response
        .json::<Value>()
        .await
        .expect("the answer is not JSON");
    (status, body)
}

#[tokio::test]
async fn signups_are_answered_at_once_and_mailed_to_the_outbox() {
    let outbox = TempDir::new("outbox");
    let app = WebApp::start(&outbox.0, None).await;
    let client = reqwest::Client::new();

    // JSON and form bodies are both accepted, answered with 202 and the task's id.
    let (status, json) = signup(
        client
            .post(app.url("/signup"))
            .json(&serde_json::json!({ "email": "ada@example.com" })),
    )
    .await;
    assert_eq!(status, 202, "{json}");
    let first = json["task_id"].as_u64().expect("task_id is a number");
    let (status, json) = signup(
        client
            .post(app.url("/signup"))
            .form(&[("email", "grace@example.com")]),
    )
    .await;
    assert_eq!(status, 202, "{json}");
    let second = json["task_id"].as_u64().expect("task_id is a number");
    assert_ne!(first, second, "each signup gets a task of its own");

    // A bad address is refused with 422 and says why; no task is queued for it.
    for bad in [
        client
            .post(app.url("/signup"))
            .json(&serde_json::json!({ "email": "not an address" })),
        client.post(app.url("/signup")).form(&[("email", "@")]),
    ] {
        let (status, json) = signup(bad).await;
        assert_eq!(status, 422, "{json}");
        let error = json["error"].as_str().expect("a JSON error message");
        assert!(error.contains("not a valid e-mail address"), "{error}");
    }
    // A body that is neither JSON nor a form is refused too.
    let (status, json) = signup(client.post(app.url("/signup")).body("ada@example.com")).await;
    assert_eq!(status, 415, "{json}");

    // The two mails arrive in the outbox, with subject and attachment.
    let mailed = poll(PATIENCE, || {
        let mails = outbox.mails();
        let both = ["ada@example.com", "grace@example.com"]
            .iter()
            .all(|to| mails.iter().any(|mail| is_welcome_mail(mail, to)));
        both.then_some(mails.len())
    })
    .await;
    assert_eq!(
        mailed,
        Some(2),
        "expected two welcome mails in the outbox, found {:?}\n{}",
        outbox.mails(),
        app.output()
    );

    // The tasks end right after writing the files; the counters agree.
    let stats = app.wait_for_completed(2).await;
    assert_eq!(stats["accepting"], true, "{stats}");
    assert_eq!(stats["failed"], 0, "{stats}");

    // SIGTERM: the server stops, the host drains, the report is logged, the exit is clean.
    let (status, output) = app.terminate().await;
    assert!(status.success(), "web_app exited with {status}:\n{output}");
    assert!(output.contains("SIGTERM received"), "{output}");
    assert!(output.contains("shutdown report"), "{output}");
    assert!(output.contains("2 completed"), "{output}");
}

/// Speaks just enough SMTP to take one mail: returns the envelope commands and the message.
async fn fake_smtp_server(listener: TcpListener) -> std::io::Result<(Vec<String>, String)> {
    let (stream, _) = listener.accept().await?;
    let (read, mut write) = stream.into_split();
    let mut lines = AsyncBufReader::new(read).lines();
    let mut envelope = Vec::new();
    let mut message = String::new();
    let mut in_data = false;
    write.write_all(b"220 fake.test ESMTP ready\r\n").await?;
    while let Some(line) = lines.next_line().await? {
        if in_data {
            if line == "." {
                in_data = false;
                write.write_all(b"250 2.0.0 queued\r\n").await?;
            } else {
                message.push_str(&line);
                message.push('\n');
            }
            continue;
        }
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 fake.test\r\n",
            "MAIL" | "RCPT" => {
                envelope.push(line.clone());
                b"250 2.1.0 ok\r\n"
            }
            "RSET" | "NOOP" => b"250 2.0.0 ok\r\n",
            "DATA" => {
                in_data = true;
                b"354 end data with <CR><LF>.<CR><LF>\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                break;
            }
            _ => b"502 5.5.2 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok((envelope, message))
}

#[tokio::test]
async fn with_smtp_url_the_mail_goes_to_the_smtp_server() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot bind the fake SMTP server");
    let smtp_port = listener.local_addr().expect("a bound address").port();
    let server = tokio::spawn(fake_smtp_server(listener));

    let outbox = TempDir::new("smtp-outbox");
    let smtp_url = format!("smtp://127.0.0.1:{smtp_port}");
    let app = WebApp::start(&outbox.0, Some(&smtp_url)).await;
    let client = reqwest::Client::new();
    let (status, json) = signup(
        client
            .post(app.url("/signup"))
            .json(&serde_json::json!({ "email": "lin@example.com" })),
    )
    .await;
    assert_eq!(status, 202, "{json}");

    let received = tokio::time::timeout(PATIENCE, server).await;
    let (envelope, message) = match received {
        Ok(Ok(Ok(mail))) => mail,
        other => panic!(
            "the fake SMTP server got no mail: {other:?}\n{}",
            app.output()
        ),
    };
    assert!(
        envelope
            .iter()
            .any(|line| line.contains("<lin@example.com>")),
        "{envelope:?}"
    );
    assert!(is_welcome_mail(&message, "lin@example.com"), "{message}");
    assert!(
        outbox.mails().is_empty(),
        "SMTP_URL must replace the outbox"
    );
    app.wait_for_completed(1).await;

    let (status, output) = app.terminate().await;
    assert!(status.success(), "web_app exited with {status}:\n{output}");
    assert!(output.contains("shutdown report"), "{output}");
    assert!(output.contains("1 completed"), "{output}");
}
