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
