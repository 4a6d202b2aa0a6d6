//! The PostgreSQL server the durable-store tests use: a throwaway one, or the developer's own
//! (`QBWI_TEST_DATABASE_URL`). It lives in the `qbwi-test-postgres` crate, so that qbwi's own unit
//! tests (which cannot depend on this crate: it depends on qbwi) start it too.

pub use qbwi_test_postgres::*;
