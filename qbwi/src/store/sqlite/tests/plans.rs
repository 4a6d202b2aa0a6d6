//! How SQLite runs the operator's listings on a store that holds a long history: every filter
//! walks an index in id order and stops at the page's end, never scanning the table nor sorting
//! it (which is what keeps a page fast at a million jobs; the durable bench times it).

use rusqlite::Connection;
use rusqlite::types::Value;

use super::super::admin::listing;
use super::super::jobs::{claim_sql, next_due_sql};
use super::super::{Db, SqliteStore};
use super::temp_path;
use crate::store::{JobQuery, JobState, now_millis};

/// How SQLite runs `sql` on the store at `path` (a connection of the test's own: the plan is the
/// file's, whichever connection asks).
fn plan(path: &std::path::Path, sql: &str, values: &[Value]) -> Vec<String> {
    let connection = Connection::open(path).unwrap();
    Db {
        connection: &connection,
    }
    .plan(sql, values)
}

/// Adds `count` jobs of two tasks, most of them completed, the rest spread over the other states.
fn history(path: &std::path::Path, count: i64) {
    let connection = Connection::open(path).unwrap();
    connection
        .execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO qbwi_jobs (task, payload, state, attempts, max_attempts, run_at,
                                    created_at, finished_at)
             SELECT CASE i % 3 WHEN 0 THEN 'report' ELSE 'mail' END, '{}',
                    CASE WHEN i % 100 < 90 THEN 'completed'
                         WHEN i % 100 < 93 THEN 'ready'
                         WHEN i % 100 < 95 THEN 'running'
                         WHEN i % 100 < 98 THEN 'dead'
                         ELSE 'cancelled' END,
                    i % 2, 3, ?2 + (i % 7 - 3) * 60000, ?2, ?2
               FROM n",
            [count, now_millis()],
        )
        .unwrap();
}

#[test]
fn every_listing_walks_an_index_in_id_order() {
    let path = temp_path("plans");
    let _store = SqliteStore::open(&path).unwrap();
    history(&path, 20_000);
    let mut queries = vec![JobQuery::new(), JobQuery::new().task("mail")];
    for state in JobState::ALL {
        queries.push(JobQuery::new().state(state));
        queries.push(JobQuery::new().state(state).task("report"));
    }
    for query in queries {
        let query = query.before(crate::store::JobId(15_000));
        let (sql, values) = listing(&query, now_millis());
        let plan = plan(&path, &sql, &values).join("; ");
        assert!(
            plan.contains("USING INDEX") || plan.contains("USING INTEGER PRIMARY KEY"),
            "{query:?} scans the table: {plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{query:?} sorts: {plan}");
    }
}

#[test]
fn the_claim_and_the_next_due_walk_the_live_jobs_indexes_not_the_history() {
    // Before `+task`, SQLite took the task index for both, walking every job of the task, the
    // completed ones kept for the retention included: the durable bench lost a third.
    let path = temp_path("plans-claim");
    let _store = SqliteStore::open(&path).unwrap();
    history(&path, 20_000);
    let tasks = [Value::Text("mail".into()), Value::Text("report".into())];
    let now = Value::Integer(now_millis());
    let claim: Vec<Value> = [
        Value::Text("w".into()),
        now.clone(),
        now.clone(),
        Value::Integer(128),
    ]
    .into_iter()
    .chain(tasks.clone())
    .collect();
    for (what, sql, values) in [
        ("claim", claim_sql(2), claim),
        ("next due", next_due_sql(2), tasks.to_vec()),
    ] {
        let plan = plan(&path, &sql, &values).join("; ");
        // The partial indexes of the live jobs, each read in its order: no sort, no scan, and not
        // the task index (every job of the task, the finished ones included).
        for index in ["qbwi_jobs_ready", "qbwi_jobs_leased"] {
            assert!(
                plan.contains(&format!("USING INDEX {index}")),
                "{what}: {plan}"
            );
        }
        assert!(!plan.contains("qbwi_jobs_task"), "{what}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{what} sorts: {plan}");
        // An index is walked in its order (`SCAN .. USING INDEX`, stopping at the limit), the
        // table never.
        assert!(
            plan.split("; ")
                .all(|step| !step.starts_with("SCAN qbwi_jobs") || step.contains("USING INDEX")),
            "{what} scans the table: {plan}"
        );
    }
}

#[test]
fn the_claim_stays_compiled_from_one_run_to_the_next() {
    // SQLite compiles a statement whose `LIMIT` is a bare parameter again on every run with a new
    // binding: before `LIMIT ?4 + 0`, that was 45 % of every claim's time.
    let path = temp_path("plans-compiled");
    let _store = SqliteStore::open(&path).unwrap();
    history(&path, 1_000);
    let connection = Connection::open(&path).unwrap();
    let db = Db {
        connection: &connection,
    };
    let lease = std::time::Duration::from_secs(30);
    for (limit, now) in [
        (3, now_millis()),
        (5, now_millis() + 1),
        (7, now_millis() + 2),
    ] {
        let claimed = db
            .claim(&["mail", "report"], limit, "w", now, lease)
            .unwrap();
        assert_eq!(claimed.len(), limit);
    }
    let statement = connection.prepare_cached(&claim_sql(2)).unwrap();
    assert_eq!(
        (
            statement.get_status(rusqlite::StatementStatus::Run),
            statement.get_status(rusqlite::StatementStatus::RePrepare)
        ),
        (3, 0),
        "three claims, compiled once"
    );
}
