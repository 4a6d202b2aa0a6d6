//! End to end: the compiled `durable` example, sending its welcome mails to a fake SMTP server
//! that holds some of them unanswered, so the process is killed (SIGKILL: a crash) in the middle
//! of sending; started again on the same database, it delivers every mail. At least once: a mail
//! the server took just before the kill may arrive twice, none may be missing.
//!
//! Also the graceful path: SIGTERM hands the mails in flight back to the store (the report's
//! `requeued`), and the next start sends them.
//!
//! On SQLite always; on PostgreSQL too where it is installed (a throwaway server, or
//! `QBWI_TEST_DATABASE_URL`'s). Every wait polls against a generous bound, and nothing depends on
//! timing: the fake server decides how many mails go out before the kill.

#![cfg(unix)] // SIGTERM via `kill`, SIGKILL via `Child::kill`

mod support;

use std::ffi::OsString;
use std::path::PathBuf;

use qbwi_test_postgres::TempPostgres;
use serde_json::{Value, json};

use support::{App, FakeSmtp, PATIENCE, TempDir, poll, signup};

/// How many people sign up before the crash.
const SIGNUPS: usize = 20;

/// How many mails the fake SMTP server takes before the crash; it holds the next ones.
const ACCEPTED_BEFORE_KILL: usize = 5;

/// The example's lease (`QBWI_LEASE_MS`): the restart takes over the killed process's jobs about
/// this long after the kill, instead of after qbwi's default 30 s.
const LEASE_MS: &str = "1000";

/// Where the example keeps its jobs.
enum Database {
    /// An SQLite file (`QBWI_DB`).
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`DATABASE_URL`).
    Postgres(String),
}

/// The `durable` example, configured for a test: the database, mails to `smtp`, a short lease.
struct Durable {
    binary: PathBuf,
    env: Vec<(&'static str, OsString)>,
}

impl Durable {
    fn new(dir: &TempDir, database: &Database, smtp: &FakeSmtp) -> Durable {
        let mut env = vec![
            ("SMTP_URL", OsString::from(smtp.url())),
            ("OUTBOX_DIR", dir.path().join("outbox").into()),
            ("QBWI_LEASE_MS", LEASE_MS.into()),
        ];
        match database {
            Database::Sqlite(path) => env.push(("QBWI_DB", path.into())),
            Database::Postgres(url) => env.push(("DATABASE_URL", url.into())),
        }
        Durable {
            binary: support::example_binary("durable", &["durable"]),
            env,
        }
    }

    async fn start(&self) -> App {
        App::start(&self.binary, &self.env).await
    }
}

/// `count` distinct addresses.
fn addresses(label: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("{label}{n}@example.com"))
        .collect()
}

/// Signs each address up, as JSON and as a form in turn; each answer is `202` with the id of a
/// job of its own.
async fn sign_up(app: &App, addresses: &[String]) {
    let client = reqwest::Client::new();
    let mut jobs = Vec::new();
    for (n, address) in addresses.iter().enumerate() {
        let request = client.post(app.url("/signup"));
        let request = if n % 2 == 0 {
            request.json(&json!({ "email": address }))
        } else {
            request.form(&[("email", address)])
        };
        let (status, json) = signup(request).await;
        assert_eq!(status, 202, "{json}\n{}", app.output());
        jobs.push(json["job_id"].as_i64().expect("job_id is a number"));
    }
    jobs.sort_unstable();
    jobs.dedup();
    assert_eq!(
        jobs.len(),
        addresses.len(),
        "each signup gets a job of its own"
    );
}

/// The addresses that have no welcome mail at the fake SMTP server yet.
fn missing<'a>(smtp: &FakeSmtp, addresses: &'a [String]) -> Vec<&'a str> {
    let accepted = smtp.accepted();
    addresses
        .iter()
        .map(String::as_str)
        .filter(|address| !accepted.iter().any(|mail| mail.welcomes(address)))
        .collect()
}

/// Does `/stats` say the store holds no job at all (every one completed and deleted)?
fn store_is_empty(stats: &Value) -> bool {
    ["ready", "scheduled", "running", "dead"]
        .iter()
        .all(|state| stats["store"][state] == 0)
}

/// Sign-ups, a SIGKILL while mails are mid-send, a restart on the same database: every address
/// gets its mail.
async fn killed_mid_send_then_restarted(database: Database, dir: &TempDir) {
    let smtp = FakeSmtp::start().await;
    smtp.hold_after(Some(ACCEPTED_BEFORE_KILL));
    let example = Durable::new(dir, &database, &smtp);
    let addresses = addresses("crash", SIGNUPS);

    let app = example.start().await;
    sign_up(&app, &addresses).await;
    // Some mails went out; the next ones are mid-send: the server has them and never answers.
    let mid_send = poll(PATIENCE, || {
        (smtp.accepted().len() == ACCEPTED_BEFORE_KILL && smtp.held() > 0).then_some(())
    })
    .await;
    assert!(
        mid_send.is_some(),
        "expected {ACCEPTED_BEFORE_KILL} mails sent and more in flight, got {} sent and {} in \
         flight:\n{}",
        smtp.accepted().len(),
        smtp.held(),
        app.output()
    );
    let output = app.kill();
    assert!(!output.contains("shutdown report"), "{output}");
    let lost = missing(&smtp, &addresses).len();
    assert_eq!(
        lost,
        SIGNUPS - ACCEPTED_BEFORE_KILL,
        "the crash leaves mails unsent"
    );

    // The same database, a new process: it takes over the dead one's jobs when their leases
    // expire, and the server now takes every mail.
    smtp.hold_after(None);
    let app = example.start().await;
    assert!(
        app.output().contains("jobs left by an earlier run"),
        "{}",
        app.output()
    );
    let delivered = poll(PATIENCE, || {
        missing(&smtp, &addresses).is_empty().then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "no welcome mail for {:?}\n{}",
        missing(&smtp, &addresses),
        app.output()
    );
    // At least once: a mail may have arrived twice, never not at all.
    assert!(smtp.accepted().len() >= SIGNUPS);

    // Every job is done and deleted; none died.
    let stats = app.wait_for_stats(store_is_empty).await;
    assert!(store_is_empty(&stats), "{stats}\n{}", app.output());
    let (status, output) = app.terminate().await;
    assert!(status.success(), "durable exited with {status}:\n{output}");
    assert!(output.contains("0 requeued"), "{output}");
}

#[tokio::test]
async fn killed_mid_send_on_sqlite_every_mail_arrives_after_a_restart() {
    let dir = TempDir::new("durable-crash-sqlite");
    let database = Database::Sqlite(dir.path().join("qbwi.db"));
    killed_mid_send_then_restarted(database, &dir).await;
}

#[tokio::test]
async fn killed_mid_send_on_postgres_every_mail_arrives_after_a_restart() {
    let Some(server) = TempPostgres::start() else {
        eprintln!("skipped: PostgreSQL not found (set QBWI_REQUIRE_POSTGRES=1 to fail instead)");
        return;
    };
    let dir = TempDir::new("durable-crash-postgres");
    let database = Database::Postgres(server.create_database("durable_example"));
    killed_mid_send_then_restarted(database, &dir).await;
}

#[tokio::test]
async fn sigterm_hands_the_mails_in_flight_back_to_the_store() {
    let dir = TempDir::new("durable-sigterm");
    let smtp = FakeSmtp::start().await;
    smtp.hold_after(Some(0));
    let example = Durable::new(&dir, &Database::Sqlite(dir.path().join("qbwi.db")), &smtp);
    // Fewer than the task's `concurrency = 4`: all of them are mid-send at once.
    let addresses = addresses("term", 3);

    let app = example.start().await;
    // A bad address is refused with 422, and nothing is stored for it.
    let (status, json) = signup(
        reqwest::Client::new()
            .post(app.url("/signup"))
            .form(&[("email", "not an address")]),
    )
    .await;
    assert_eq!(status, 422, "{json}");
    sign_up(&app, &addresses).await;
    let held = poll(PATIENCE, || (smtp.held() == addresses.len()).then_some(())).await;
    assert!(
        held.is_some(),
        "{} in flight:\n{}",
        smtp.held(),
        app.output()
    );

    // The cancelled sends go back to the store at once, their attempt given back.
    let (status, output) = app.terminate().await;
    assert!(status.success(), "durable exited with {status}:\n{output}");
    assert!(
        output.contains("0 completed") && output.contains("3 requeued"),
        "{output}"
    );

    smtp.hold_after(None);
    let app = example.start().await;
    let delivered = poll(PATIENCE, || {
        missing(&smtp, &addresses).is_empty().then_some(())
    })
    .await;
    assert!(
        delivered.is_some(),
        "no welcome mail for {:?}\n{}",
        missing(&smtp, &addresses),
        app.output()
    );
    let stats = app.wait_for_stats(store_is_empty).await;
    assert!(store_is_empty(&stats), "{stats}\n{}", app.output());
    let (status, output) = app.terminate().await;
    assert!(status.success(), "durable exited with {status}:\n{output}");
    assert!(output.contains("3 completed"), "{output}");
}
