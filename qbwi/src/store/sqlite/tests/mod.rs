//! The SQLite store on real files: the conformance suite (one test per case, each on a file of its
//! own), then what is SQLite's own: [`connections`] (opening, the schema, refusals) and
//! [`bad_rows`] (rows qbwi cannot read or decode never stop the others).

mod bad_rows;
mod connections;
mod plans;

use std::path::PathBuf;

use super::SqliteStore;
use crate::store::Store;
use crate::store::conformance;

/// A path for a new database file of `name`'s own, in a fresh directory.
fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qbwi-sqlite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("qbwi.db")
}

/// A store on the file at `path`, as `Store::sqlite` opens it.
fn open(path: impl AsRef<std::path::Path>) -> Store {
    Store::from_backend(SqliteStore::open(path).expect("opens"))
}

/// One test of each conformance case, on a new file named after it.
macro_rules! conformance_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                conformance::$case(open(temp_path(stringify!($case)))).await;
            }
        )*
    };
}
conformance::with_cases!(conformance_tests);
