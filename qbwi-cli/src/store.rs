//! Which store a locator names: a PostgreSQL connection string (`postgres://`, `postgresql://`, or
//! `key=value` pairs), else the path of a SQLite file, which must exist (the command line never
//! creates an empty store by mistyping a path).

use std::path::Path;

use qbwi::{Store, StoreError};

/// Why the store could not be opened, in words that say what to check. Never holds a password:
/// the store's own errors name it by host and database only.
#[derive(Debug)]
pub enum OpenError {
    /// No file at the path.
    NoFile(String),
    /// The store refused.
    Store(StoreError),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NoFile(path) => write!(
                f,
                "no SQLite store at {path}: check the path (the app's `Store::sqlite` argument), \
                 or give a PostgreSQL URL (postgres://user@host/db)"
            ),
            OpenError::Store(error) => write!(f, "{error}"),
        }
    }
}

/// Whether `locator` is a PostgreSQL connection string.
pub fn is_postgres(locator: &str) -> bool {
    locator.starts_with("postgres://")
        || locator.starts_with("postgresql://")
        || (locator.contains('=') && !Path::new(locator).exists())
}

/// Opens the store `locator` names.
pub async fn open(locator: &str) -> Result<Store, OpenError> {
    if is_postgres(locator) {
        return Store::postgres(locator).await.map_err(OpenError::Store);
    }
    if !Path::new(locator).is_file() {
        return Err(OpenError::NoFile(locator.to_owned()));
    }
    Store::sqlite(locator).map_err(OpenError::Store)
}
