//! The `qbwi` binary end to end, on a SQLite file and on a throwaway PostgreSQL database that a
//! real host filled: status, listings (tables and JSON), retry, delete, cancel, pause and resume,
//! and the errors for a store that is not there.

use std::process::Command;
use std::time::Duration;

use qbwi::{Host, JobState, Store, background_task};
use serde_json::Value;

/// Always fails: dead after its one run.
#[background_task(durable, retries = 0)]
async fn send_mail(to: String) -> Result<(), String> {
    Err(format!("smtp 550: no mailbox for {to}"))
}

/// Runs later than any test.
#[background_task(durable)]
async fn nightly_report(day: u32) {
    let _ = day;
}

/// What one run of the binary did.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn qbwi(store: &str, args: &[&str]) -> Ran {
    let output = Command::new(env!("CARGO_BIN_EXE_qbwi"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env("COLUMNS", "120")
        .output()
        .expect("the binary runs");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn json(ran: &Ran) -> Value {
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout))
}

/// Two dead mails and a report scheduled for tomorrow, stored by a real host.
async fn fill(store: &Store) {
    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    for to in ["a@example.com", "b@example.com"] {
        host.enqueue(send_mail { to: to.into() }).await.unwrap();
    }
    host.enqueue_at(
        nightly_report { day: 2 },
        std::time::SystemTime::now() + Duration::from_secs(86_400),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.counts().await.unwrap().dead < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the mails never died"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    host.shutdown().await;
}

/// Every command on the store at `locator`, which `fill` filled.
fn every_command(locator: &str) {
    let mail = <send_mail as qbwi::BackgroundTask>::NAME;
    let status = qbwi(locator, &["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stdout
            .lines()
            .any(|line| line.split_whitespace().collect::<Vec<_>>() == ["dead", "2"]),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains(mail), "{}", status.stdout);
    let states = json(&qbwi(locator, &["--json", "status"]));
    assert_eq!(states["states"]["dead"], 2);
    assert_eq!(states["states"]["scheduled"], 1);

    let table = qbwi(locator, &["jobs", "--state", "dead"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("smtp 550: no mailbox for"),
        "{}",
        table.stdout
    );
    let dead = json(&qbwi(
        locator,
        &["--json", "jobs", "--state", "dead", "--task", mail],
    ));
    let dead = dead.as_array().unwrap();
    assert_eq!(dead.len(), 2);
    assert!(
        dead[0]["id"].as_i64() > dead[1]["id"].as_i64(),
        "newest first"
    );
    assert_eq!(dead[0]["state"], "dead");
    let (newest, oldest) = (dead[0]["id"].to_string(), dead[1]["id"].to_string());
    let page = json(&qbwi(
        locator,
        &["--json", "jobs", "--state", "dead", "--before", &newest],
    ));
    assert_eq!(page.as_array().unwrap().len(), 1);
    let detail = json(&qbwi(locator, &["--json", "job", &oldest]));
    assert_eq!(detail["arguments"]["to"], "a@example.com");

    let retried = qbwi(locator, &["retry", &oldest]);
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert!(retried.stdout.contains("runs again"), "{}", retried.stdout);
    assert_eq!(
        json(&qbwi(locator, &["--json", "job", &oldest]))["state"],
        "ready"
    );
    let again = qbwi(locator, &["retry", &oldest]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("not retried"), "{}", again.stderr);

    assert_eq!(qbwi(locator, &["cancel", &oldest]).code, 0);
    assert_eq!(
        json(&qbwi(locator, &["--json", "job", &oldest]))["state"],
        JobState::Cancelled.to_string()
    );
    assert_eq!(qbwi(locator, &["delete", &newest]).code, 0);
    let gone = qbwi(locator, &["job", &newest]);
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("no job"), "{}", gone.stderr);

    assert_eq!(qbwi(locator, &["pause", mail]).code, 0);
    assert_eq!(qbwi(locator, &["pause", mail]).code, 1, "paused already");
    assert_eq!(
        json(&qbwi(locator, &["--json", "status"]))["paused"][0],
        mail
    );
    assert_eq!(qbwi(locator, &["resume", mail]).code, 0);

    let wrong = qbwi(locator, &["jobs", "--state", "deadd"]);
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("is not a job state"),
        "{}",
        wrong.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("qbwi-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("qbwi.db");
    fill(&Store::sqlite(&path).unwrap()).await;
    tokio::task::spawn_blocking(move || every_command(path.to_str().unwrap()))
        .await
        .unwrap();

    let missing = qbwi(dir.join("nope.db").to_str().unwrap(), &["status"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no SQLite store at"),
        "{}",
        missing.stderr
    );
    assert!(!dir.join("nope.db").exists(), "never creates a store");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_postgres() {
    let Some(server) = qbwi_test_postgres::TempPostgres::start() else {
        eprintln!("skipped: PostgreSQL not found (set QBWI_REQUIRE_POSTGRES=1 to fail instead)");
        return;
    };
    let url = server.create_database("cli");
    fill(&Store::postgres(&url).await.unwrap()).await;
    tokio::task::spawn_blocking(move || every_command(&url))
        .await
        .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = qbwi(
        &format!("postgres://app:hunter2@127.0.0.1:{port}/app"),
        &["status"],
    );
    assert_eq!(unreachable.code, 2);
    assert!(
        unreachable.stderr.contains("check"),
        "{}",
        unreachable.stderr
    );
    assert!(
        !unreachable.stderr.contains("hunter2"),
        "{}",
        unreachable.stderr
    );
}

/// `qbwi dashboard`: read-only and loopback-only without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_serves_a_store_read_only_without_a_token() {
    let dir = std::env::temp_dir().join(format!("qbwi-cli-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("qbwi.db");
    fill(&Store::sqlite(&path).unwrap()).await;
    let dashboard = Dashboard::start(&path, &[]);
    assert!(
        dashboard.banner.contains("read-only"),
        "{}",
        dashboard.banner
    );
    let client = client();

    let page = client
        .get(dashboard.url("/jobs?state=dead"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("smtp 550: no mailbox for"), "{page}");
    assert!(
        !page.contains(r#"method="post""#),
        "read-only: no actions: {page}"
    );
    let write = client
        .post(dashboard.url("/jobs/1/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `qbwi dashboard --token T`: every request must carry the token, and may act.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_with_a_token_asks_for_it_and_may_act() {
    let dir = std::env::temp_dir().join(format!("qbwi-cli-token-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("qbwi.db");
    let store = Store::sqlite(&path).unwrap();
    fill(&store).await;
    let dashboard = Dashboard::start(&path, &["--token", "s3cret"]);
    assert!(
        dashboard.banner.contains("bearer token"),
        "{}",
        dashboard.banner
    );
    assert!(
        !dashboard.banner.contains("s3cret"),
        "never printed: {}",
        dashboard.banner
    );
    let client = client();

    let anonymous = client.get(dashboard.url("/")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = client
        .get(dashboard.url("/"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let dead = store
        .jobs(&qbwi::JobQuery::new().state(JobState::Dead))
        .await
        .unwrap();
    let id = dead[0].id;
    let page = client
        .get(dashboard.url(&format!("/jobs/{id}")))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .expect("the page sets the CSRF cookie")
        .to_owned();
    let page = page.text().await.unwrap();
    assert!(page.contains(r#"method="post""#), "may act: {page}");
    let token = page
        .split(r#"name="qbwi-csrf" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its CSRF token")
        .to_owned();
    let retried = client
        .post(dashboard.url(&format!("/jobs/{id}/delete")))
        .bearer_auth("s3cret")
        .header("cookie", cookie)
        .header("x-qbwi-csrf", token)
        .send()
        .await
        .unwrap();
    assert!(
        retried.status().is_success() || retried.status().is_redirection(),
        "{}",
        retried.status()
    );
    assert!(store.job(id).await.unwrap().is_none(), "deleted");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client that never waits long and never follows redirects.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `qbwi dashboard` running as a child process, killed on drop.
struct Dashboard {
    child: std::process::Child,
    address: String,
    banner: String,
}

impl Dashboard {
    /// Starts `qbwi --store PATH dashboard --listen 127.0.0.1:0 ARGS` and reads where it listens.
    fn start(path: &std::path::Path, args: &[&str]) -> Dashboard {
        use std::io::BufRead;

        let mut child = Command::new(env!("CARGO_BIN_EXE_qbwi"))
            .arg("--store")
            .arg(path)
            .args(["dashboard", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut banner = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        let address = banner
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("prints where it listens: {banner}"))
            .to_owned();
        Dashboard {
            child,
            address,
            banner,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
