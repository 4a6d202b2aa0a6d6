//! How PostgreSQL runs the operator's listings on a store that holds a long history: every filter
//! walks an index in id order and stops at the page's end, never sorting (which is what keeps a
//! page fast at a million jobs; the durable bench times it).

use super::super::admin::listing_for_plan;
use super::TestDatabase;
use crate::store::{JobId, JobQuery, JobState};

pub(super) async fn every_listing_walks_an_index_in_id_order(db: TestDatabase) {
    drop(db.store().await); // the schema
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO qbwi_jobs (task, payload, state, attempts, max_attempts, run_at,
                                    created_at, finished_at)
             SELECT CASE i % 3 WHEN 0 THEN 'report' ELSE 'mail' END, '{}',
                    CASE WHEN i % 100 < 90 THEN 'completed'
                         WHEN i % 100 < 93 THEN 'ready'
                         WHEN i % 100 < 95 THEN 'running'
                         WHEN i % 100 < 98 THEN 'dead'
                         ELSE 'cancelled' END,
                    i % 2, 3, now() + (i % 7 - 3) * interval '1 minute', now(), now()
               FROM generate_series(1, 50000) AS i;
             ANALYZE qbwi_jobs;",
        )
        .await
        .unwrap();
    let mut queries = vec![JobQuery::new(), JobQuery::new().task("mail")];
    for state in JobState::ALL {
        queries.push(JobQuery::new().state(state));
        queries.push(JobQuery::new().state(state).task("report"));
    }
    for query in queries {
        let query = query.before(JobId(40_000));
        let (sql, values) = listing_for_plan(&query);
        let parameters: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|value| &**value as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let plan: Vec<String> = client
            .query(&format!("EXPLAIN {sql}"), &parameters)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("Index"), "{query:?} scans the table:\n{plan}");
        assert!(!plan.contains("Sort"), "{query:?} sorts:\n{plan}");
    }
}

pub(super) async fn the_claim_walks_the_ready_index_after_a_burst_the_statistics_missed(
    db: TestDatabase,
) {
    // Statistics from an empty table (a new store), then a burst of jobs before autovacuum
    // analyzes it again: planned from the old statistics, the claim read every ready row and
    // sorted them (the durable bench's batched runs took 2.7 s or 8 s, by whether autovacuum had
    // come by).
    drop(db.store().await); // the schema
    let client = db.client().await;
    client
        .batch_execute(
            "ANALYZE qbwi_jobs;
             INSERT INTO qbwi_jobs (task, payload, state, max_attempts, run_at)
             SELECT 'mail', '{}', 'ready', 3, now() - i * interval '1 millisecond'
               FROM generate_series(1, 50000) AS i;",
        )
        .await
        .unwrap();
    client
        .batch_execute(super::super::jobs::BEGIN_CLAIM)
        .await
        .unwrap();
    let plan: Vec<String> = client
        .query(
            &format!("EXPLAIN {}", super::super::jobs::CLAIM),
            &[&vec!["mail"], &128_i64, &"w", &30_000.0_f64],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    client.batch_execute("ROLLBACK").await.unwrap();
    let plan = plan.join("\n");
    // The ready branch walks its index in order and stops at the limit: no scan of the table, no
    // bitmap of every ready row, no sort of them (the only sort left orders the two branches'
    // few ids).
    assert!(plan.contains("Index Scan using qbwi_jobs_ready"), "{plan}");
    for reading_every_ready_row in [
        "Seq Scan on qbwi_jobs",
        "Bitmap Heap Scan",
        "Sort Key: qbwi_jobs",
    ] {
        assert!(!plan.contains(reading_every_ready_row), "{plan}");
    }
}
