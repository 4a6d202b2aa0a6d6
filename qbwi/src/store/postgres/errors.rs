//! What each failure is called: PostgreSQL's errors mapped to [`StoreError`]s, with a hint that
//! says what to check. A message names the server, never its password.

use std::error::Error as _;

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::SqlState;

use super::StoreError;

/// What to check when the server cannot be reached.
pub(super) const HINT_CONNECT: &str = "check that the server is running and reachable, and that \
     DATABASE_URL's host, port, user, password and database are right";
/// What to check when the connection string does not parse.
pub(super) const HINT_URL: &str = "write the connection string as \
     postgres://user:password@host:5432/database or as \
     host=.. port=.. user=.. password=.. dbname=..";
/// What to check when the server refuses the user.
pub(super) const HINT_AUTH: &str = "check DATABASE_URL's user and password, and that the server's \
     pg_hba.conf lets this user in from this host";
/// What to check when the database does not exist.
pub(super) const HINT_DATABASE: &str =
    "create the database (CREATE DATABASE ..), or fix the database name in DATABASE_URL";
/// What to check when the server has no connection slot left.
pub(super) const HINT_TOO_MANY: &str = "the server has no connection slot left: raise its \
     max_connections, or lower the pool sizes of its clients";
/// What to check when every pooled connection stayed busy.
pub(super) const HINT_POOL_BUSY: &str = "every connection of the pool stayed busy: raise the \
     pool's max_size, or shorten the transactions that hold its connections";
/// What to check when the caller's pool cannot hand out connections.
pub(super) const HINT_POOL: &str = "the deadpool-postgres pool given to Store::postgres was closed \
     or is misconfigured: build it with .runtime(Runtime::Tokio1) if it has timeouts, and keep it \
     open while the store is in use";
/// What to check when the server wants TLS.
pub(super) const HINT_TLS: &str = "Store::postgres(url) connects without TLS: allow plain \
     connections from this host, or pass a deadpool-postgres pool built with a TLS connector";

/// Maps a query's error: lost connections are [`StoreError::Unreachable`], a read-only server
/// [`StoreError::ReadOnly`], a full disk [`StoreError::Full`], anything else
/// [`StoreError::Database`].
pub(super) fn store_error(store: &str, error: &tokio_postgres::Error) -> StoreError {
    let store = store.to_owned();
    let reason = reason(error);
    match error.code() {
        Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => {
            StoreError::ReadOnly { store, reason }
        }
        // 53100 disk_full, 53200 out_of_memory, 53400 configuration_limit_exceeded; 53300
        // too_many_connections is about reaching the server, below.
        Some(code) if code.code().starts_with("53") && *code != SqlState::TOO_MANY_CONNECTIONS => {
            StoreError::Full { store, reason }
        }
        Some(code) => match unreachable_hint(code) {
            Some(hint) => StoreError::Unreachable {
                store,
                reason,
                hint,
            },
            None => StoreError::Database { store, reason },
        },
        None if error.is_closed() || io_error(error) => StoreError::Unreachable {
            store,
            reason,
            hint: HINT_CONNECT,
        },
        None => StoreError::Database { store, reason },
    }
}

/// Maps an error of opening a connection: always [`StoreError::Unreachable`], with what to check.
fn connect_error(store: &str, error: &tokio_postgres::Error) -> StoreError {
    let hint = if let Some(code) = error.code() {
        unreachable_hint(code).unwrap_or(HINT_CONNECT)
    } else if chain(error).any(|cause| cause.is::<tokio_postgres::tls::NoTlsError>()) {
        HINT_TLS
    } else {
        HINT_CONNECT
    };
    StoreError::Unreachable {
        store: store.to_owned(),
        reason: reason(error),
        hint,
    }
}

/// Maps an error of getting a connection from the pool.
pub(super) fn pool_error(store: &str, error: PoolError) -> StoreError {
    let unreachable = |reason: &str, hint| StoreError::Unreachable {
        store: store.to_owned(),
        reason: reason.to_owned(),
        hint,
    };
    match error {
        PoolError::Backend(error) => connect_error(store, &error),
        PoolError::Timeout(TimeoutType::Wait) => unreachable(
            "no connection of the pool became free in time",
            HINT_POOL_BUSY,
        ),
        PoolError::Timeout(TimeoutType::Create) => {
            unreachable("connecting to the server took too long", HINT_CONNECT)
        }
        PoolError::Timeout(TimeoutType::Recycle) => {
            unreachable("checking a pooled connection took too long", HINT_CONNECT)
        }
        PoolError::Closed => unreachable("the connection pool is closed", HINT_POOL),
        PoolError::NoRuntimeSpecified => {
            unreachable("the connection pool has timeouts but no runtime", HINT_POOL)
        }
        PoolError::PostCreateHook(error) => unreachable(&error.to_string(), HINT_CONNECT),
    }
}

/// The hint for SQLSTATEs that mean the server cannot be used at all, if `code` is one.
fn unreachable_hint(code: &SqlState) -> Option<&'static str> {
    match code.code() {
        // invalid_authorization_specification, invalid_password
        "28000" | "28P01" => Some(HINT_AUTH),
        // invalid_catalog_name: no such database
        "3D000" => Some(HINT_DATABASE),
        "53300" => Some(HINT_TOO_MANY),
        // connection_exception; admin_shutdown, crash_shutdown, cannot_connect_now, ..
        code if code.starts_with("08") || code.starts_with("57P") => Some(HINT_CONNECT),
        _ => None,
    }
}

/// Whether the error comes from the socket.
fn io_error(error: &tokio_postgres::Error) -> bool {
    chain(error).any(|cause| cause.is::<std::io::Error>())
}

/// The error's causes, after it.
fn chain(
    error: &tokio_postgres::Error,
) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |cause| (*cause).source())
}

/// What the server said (tokio-postgres' own message is only "db error"), or what went wrong on
/// the way to it, with its causes.
pub(super) fn reason(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut reason = db.message().to_owned();
        if let Some(detail) = db.detail() {
            reason.push_str(": ");
            reason.push_str(detail);
        }
        reason.push_str(" (SQLSTATE ");
        reason.push_str(db.code().code());
        reason.push(')');
        return reason;
    }
    let mut reason = error.to_string();
    for cause in chain(error) {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
    }
    reason
}
