//! Where the runs keep their jobs: a fresh SQLite file or PostgreSQL database for every run, so
//! that no run sees another's rows.

use std::path::PathBuf;

use qbwi_test_postgres::{Durability, TempPostgres};

/// A kind of store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    /// Every kind, in the order they run.
    pub const ALL: [Kind; 2] = [Kind::Sqlite, Kind::Postgres];

    /// Its word on the command line (and between the bench and the apalis child).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }

    /// Its name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }
}

/// One run's empty store: a file path (SQLite) or a connection string (PostgreSQL).
#[derive(Debug, Clone)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Target {
    /// The path or connection string, for the apalis child's command line.
    #[cfg_attr(not(feature = "apalis"), allow(dead_code))]
    pub fn locator(&self) -> String {
        match self {
            Target::Sqlite(path) => path.display().to_string(),
            Target::Postgres(url) => url.clone(),
        }
    }
}

/// The stores of a bench run: a temporary directory for SQLite files, and a PostgreSQL server if
/// one could be had. Dropping it deletes the files and stops (or cleans up) the server.
pub struct Stores {
    dir: PathBuf,
    postgres: Result<TempPostgres, String>,
    durability: Durability,
    created: u32,
}

impl Stores {
    /// Makes the temporary directory; starts a throwaway PostgreSQL server (or uses
    /// `QBWI_TEST_DATABASE_URL`'s) if `postgres`: with `fsync` and `synchronous_commit` on, as
    /// users run it, unless `fsync_off` (as qbwi's tests run it).
    pub fn open(postgres: bool, fsync_off: bool) -> Result<Stores, String> {
        let durability = if fsync_off {
            Durability::Fast
        } else {
            Durability::AsUsersRunIt
        };
        let dir = std::env::temp_dir().join(format!("qbwi-bench-durable-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let postgres = if postgres {
            start_postgres(durability)
        } else {
            Err("not selected".to_owned())
        };
        Ok(Stores {
            dir,
            postgres,
            durability,
            created: 0,
        })
    }

    /// Why there is no PostgreSQL server, if there is none.
    pub fn postgres_missing(&self) -> Option<&str> {
        self.postgres.as_ref().err().map(String::as_str)
    }

    /// What kind of PostgreSQL server the runs use, for the header.
    pub fn postgres_description(&self) -> Option<&'static str> {
        self.postgres.as_ref().ok().map(|server| {
            if server.is_external() {
                "the server of QBWI_TEST_DATABASE_URL (its own settings)"
            } else if self.durability == Durability::Fast {
                "a throwaway local server, fsync=off, synchronous_commit=off (as qbwi's tests run \
                 it, not as users do: `fsync-off`)"
            } else {
                "a throwaway local server, fsync=on, synchronous_commit=on (as users run it)"
            }
        })
    }

    /// A fresh, empty store of `kind` for one run; `label` names it (`qbwi-single-2`).
    pub fn fresh(&mut self, kind: Kind, label: &str) -> Result<Target, String> {
        self.created += 1;
        match kind {
            Kind::Sqlite => Ok(Target::Sqlite(
                self.dir.join(format!("{label}-{}.db", self.created)),
            )),
            Kind::Postgres => {
                let server = self.postgres.as_ref().map_err(Clone::clone)?;
                let hint = label.to_owned();
                // `create_database` panics with psql's message when it fails.
                std::panic::catch_unwind(|| server.create_database(&hint))
                    .map(Target::Postgres)
                    .map_err(|panic| panic_message(&*panic))
            }
        }
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the server; its panics (PostgreSQL installed but not starting) become the reason.
fn start_postgres(durability: Durability) -> Result<TempPostgres, String> {
    match std::panic::catch_unwind(|| TempPostgres::start_with(durability)) {
        Ok(Some(server)) => Ok(server),
        Ok(None) => Err("PostgreSQL is not installed (initdb/pg_ctl not found)".to_owned()),
        Err(panic) => Err(panic_message(&*panic)),
    }
}

/// The text of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
        .unwrap_or_else(|| "panicked".to_owned())
}
