//! The PostgreSQL store against a real server: one per test binary, since starting one takes
//! seconds. [`postgres_backend`] starts it ([`TempPostgres`]: a throwaway server, or the one
//! `QBWI_TEST_DATABASE_URL` names) and runs every case that needs it, in order, each on a fresh
//! database of its own: the conformance suite (`store::conformance`: what every backend must
//! do), then PostgreSQL's own cases, in [`connections`] (the schema, the listener, the caller's connections and pools, refusals) and
//! [`bad_rows`] (rows and names that cannot be read or sent never stop the others).
//! Without PostgreSQL installed it skips, unless `QBWI_REQUIRE_POSTGRES=1` (as in CI).
//!
//! The tests here need no server: errors for an unreachable one, and how configs print.

mod bad_rows;
mod connections;
mod plans;

use std::time::{Duration, Instant};

use qbwi_test_postgres::TempPostgres;
use tokio_postgres::NoTls;

use super::PostgresStore;
use super::config::{describe_config, redact};
use super::errors::{HINT_CONNECT, HINT_TLS, HINT_URL};
use crate::PostgresConfig;
use crate::store::{BoxFuture, Store, StoreError, conformance};
/// How long one case may take before it counts as hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// One case: it gets a fresh database, and panics if something is wrong.
type Case = Box<dyn FnOnce(TestDatabase) -> BoxFuture<'static, ()>>;

/// `(name, case)` pairs for [`postgres_backend`], named after their functions.
macro_rules! cases {
    ($($module:ident::$case:ident),* $(,)?) => {
        [$((stringify!($case), Box::new(|db| Box::pin($module::$case(db)) as BoxFuture<'static, ()>) as Case)),*]
    };
}

/// Every case that needs a server, on one server (the conformance suite's, then PostgreSQL's own):
/// each runs in a task of its own (so that a
/// panic is caught and the rest still run) against a database of its own; the failures are
/// reported together at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_backend() {
    let Some(server) = TempPostgres::start() else {
        eprintln!("postgres_backend: no PostgreSQL server: skipping");
        return;
    };
    let conformance = conformance::CASES.iter().map(|&(name, case)| {
        let run: Case = Box::new(move |db| Box::pin(async move { case(db.store().await).await }));
        (name, run)
    });
    let own = cases![
        connections::hosts_starting_at_once_on_an_empty_database_create_the_schema_once,
        connections::a_newer_schema_is_refused_with_a_clear_error,
        connections::a_notification_wakes_the_listener_and_is_kept_until_someone_waits,
        connections::the_listener_reconnects_after_losing_its_connection,
        connections::jobs_enqueued_in_a_callers_transaction_exist_only_if_it_commits,
        connections::a_callers_pool_works_without_a_listener,
        connections::a_read_only_database_is_reported_as_read_only,
        connections::a_missing_database_is_unreachable_with_a_hint,
        connections::a_unique_job_enqueued_in_a_callers_transaction_keeps_its_key,
        bad_rows::a_row_that_cannot_be_read_is_claimed_alone_and_listed_dead,
        bad_rows::a_task_name_postgresql_cannot_hold_does_not_break_the_claim,
        bad_rows::an_error_with_a_nul_byte_is_kept_with_a_replacement,
        plans::every_listing_walks_an_index_in_id_order,
        plans::the_claim_walks_the_ready_index_after_a_burst_the_statistics_missed,
    ];
    let cases: Vec<(&str, Case)> = conformance.chain(own).collect();
    let total = cases.len();
    let mut failed = Vec::new();
    for (name, case) in cases {
        let started = Instant::now();
        let db = TestDatabase::create(&server, name).await;
        let task = tokio::spawn(case(db));
        let abort = task.abort_handle();
        let outcome = match tokio::time::timeout(CASE_TIMEOUT, task).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(error)) => {
                let message = match error.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<&str>()
                        .map(|message| (*message).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".to_owned()),
                    Err(error) => error.to_string(),
                };
                failed.push(format!("{name}: {message}"));
                "FAILED".to_owned()
            }
            Err(_) => {
                abort.abort();
                failed.push(format!("{name}: took more than {CASE_TIMEOUT:?}"));
                "TIMED OUT".to_owned()
            }
        };
        eprintln!(
            "postgres_backend: {name} ... {outcome} ({:.2?})",
            started.elapsed()
        );
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        total,
        failed.join("\n")
    );
}

/// A database of one case's own, on the test binary's server (which drops it at the end).
struct TestDatabase {
    /// How to connect to it.
    config: tokio_postgres::Config,
    /// A connection to the server's administrative database, to watch and change this one.
    admin: tokio_postgres::Client,
    /// Its name.
    name: String,
    /// Whether the server is the throwaway one, on 127.0.0.1 at `config`'s port (not the
    /// developer's, which may sit behind a forwarded port).
    throwaway: bool,
}

impl TestDatabase {
    async fn create(server: &TempPostgres, case: &str) -> TestDatabase {
        // `psql` creates it: a short blocking call, between cases.
        let url = tokio::task::block_in_place(|| server.create_database(case));
        let config: tokio_postgres::Config = url.parse().expect("the database's URL parses");
        let admin_config: tokio_postgres::Config =
            server.url().parse().expect("the server's URL parses");
        let name = config
            .get_dbname()
            .expect("the database's URL names it")
            .to_owned();
        TestDatabase {
            admin: connect(&admin_config).await,
            config,
            name,
            throwaway: !server.is_external(),
        }
    }

    /// A store on this database, from a connection string (so with a listener), as
    /// `Store::postgres` makes one.
    async fn store(&self) -> Store {
        Store::from_backend(
            PostgresStore::connect_with(self.config.clone())
                .await
                .expect("connects"),
        )
    }

    /// A plain client of this database.
    async fn client(&self) -> tokio_postgres::Client {
        connect(&self.config).await
    }

    /// The listening connections' server process ids.
    async fn listeners(&self) -> Vec<i32> {
        self.admin
            .query(
                "SELECT pid FROM pg_stat_activity
                  WHERE datname = $1 AND query = 'LISTEN qbwi_jobs'",
                &[&self.name],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

async fn connect(config: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, connection) = config.connect(NoTls).await.expect("connects");
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_password() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://qbwi:secret-word@127.0.0.1:{port}/jobs");
    let started = std::time::Instant::now();
    let error = PostgresStore::connect(url.as_str().into())
        .await
        .expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(20));
    let StoreError::Unreachable { store, hint, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(store, &format!("PostgreSQL at 127.0.0.1:{port}/jobs"));
    assert_eq!(*hint, HINT_CONNECT);
    let text = error.to_string();
    assert!(
        text.contains("check that the server is running") && !text.contains("secret-word"),
        "{text}"
    );

    let error = PostgresStore::connect("postgres://qbwi:secret-word@host:port/jobs".into())
        .await
        .expect_err("refused");
    assert!(
        matches!(error, StoreError::Unreachable { hint, .. } if hint == HINT_URL),
        "{error:?}"
    );
    assert!(!error.to_string().contains("secret-word"), "{error}");

    let error = PostgresStore::connect(
        format!("postgres://qbwi@127.0.0.1:{port}/jobs?sslmode=require").into(),
    )
    .await
    .expect_err("refused");
    assert!(
        matches!(error, StoreError::Unreachable { hint, .. } if hint == HINT_TLS),
        "{error:?}"
    );
}

#[test]
fn configs_print_without_their_password() {
    for (url, printed) in [
        (
            "postgres://app:s3cret@db:5432/jobs",
            "postgres://app:***@db:5432/jobs",
        ),
        (
            "postgresql://app:p@ss:w@rd@db/jobs?sslmode=disable",
            "postgresql://app:***@db/jobs?sslmode=disable",
        ),
        ("postgres://app@db/jobs", "postgres://app@db/jobs"),
        (
            "postgres://db/jobs?user=app&password=s3cret&x=1",
            "postgres://db/jobs?user=app&password=***&x=1",
        ),
        (
            "host=db user=app password=s3cret dbname=jobs",
            "host=db user=app password=*** dbname=jobs",
        ),
        (
            "host=db password = 'it\\'s secret' dbname=jobs",
            "host=db password = *** dbname=jobs",
        ),
    ] {
        assert_eq!(redact(url), printed, "{url}");
        let debug = format!("{:?}", PostgresConfig::from(url));
        assert!(
            !debug.contains("s3cret") && !debug.contains("secret"),
            "{debug}"
        );
    }
}

#[test]
fn descriptions_name_the_host_port_and_database() {
    let describe = |url: &str| describe_config(&url.parse().unwrap());
    assert_eq!(
        describe("postgres://app:pw@db.internal:6543/jobs"),
        "PostgreSQL at db.internal:6543/jobs"
    );
    assert_eq!(
        describe("postgres://app@[::1]/jobs"),
        "PostgreSQL at [::1]:5432/jobs"
    );
    assert_eq!(
        describe("host=/run/postgresql user=app"),
        "PostgreSQL at /run/postgresql:5432/app"
    );
}
