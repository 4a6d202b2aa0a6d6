//! What each SQLite failure is called, with what to check: SQLite's result codes as
//! [`StoreError`]s.

use rusqlite::ErrorCode;

use super::path;
use super::schema::SCHEMA_VERSION;
use crate::store::StoreError;

/// What can go wrong inside: SQLite's errors, a schema from the future, and a database that SQLite
/// keeps in no file (why).
#[derive(Debug)]
pub(super) enum DbError {
    Sqlite(rusqlite::Error),
    NewerSchema { found: i64 },
    NotDurable(String),
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        DbError::Sqlite(error)
    }
}

pub(super) type DbResult<T> = Result<T, DbError>;

/// A read-only or full database: the file opened, but writing is refused.
fn is_write_refusal(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::ReadOnly | ErrorCode::DiskFull)
    )
}

/// The hint for a file that SQLite does not recognise as a database.
const HINT_NOT_A_DATABASE: &str = "the file is not a SQLite database (or it is encrypted or \
                                   damaged): check the path, and give qbwi a file of its own (one \
                                   that does not exist yet is created)";

/// The public error for a store that failed to open: a file that cannot be opened or read is
/// unreachable, with what to check; a read-only or full one opened, and says so when written to.
pub(super) fn open_error(describe: &str, error: DbError) -> StoreError {
    match error {
        DbError::Sqlite(error) if !is_write_refusal(&error) => StoreError::Unreachable {
            store: describe.to_owned(),
            reason: error.to_string(),
            hint: match error.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => HINT_NOT_A_DATABASE,
                _ => "check that the directory exists and is writable by this process",
            },
        },
        error => store_error(describe, error),
    }
}

/// The public error for one of this store's.
pub(super) fn store_error(describe: &str, error: DbError) -> StoreError {
    let store = describe.to_owned();
    match error {
        DbError::NewerSchema { found } => StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        },
        DbError::NotDurable(reason) => StoreError::NotDurable {
            store,
            reason,
            instead: path::INSTEAD,
        },
        DbError::Sqlite(error) => {
            let reason = error.to_string();
            match error.sqlite_error_code() {
                Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { store, reason },
                Some(ErrorCode::DiskFull) => StoreError::Full { store, reason },
                Some(ErrorCode::NotADatabase) => StoreError::Unreachable {
                    store,
                    reason,
                    hint: HINT_NOT_A_DATABASE,
                },
                Some(ErrorCode::CannotOpen) => StoreError::Unreachable {
                    store,
                    reason,
                    hint: "check that the file and its directory exist and are readable and \
                           writable by this process",
                },
                _ => StoreError::Database { store, reason },
            }
        }
    }
}
