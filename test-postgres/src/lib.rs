//! A PostgreSQL server for qbwi's tests: a throwaway one started from the system's PostgreSQL, or
//! the developer's own, named by `QBWI_TEST_DATABASE_URL`.
//!
//! - **Throwaway** (the default): `initdb` and `pg_ctl` from the system's PostgreSQL, in a
//!   temporary directory, on a free port of 127.0.0.1, with `trust` authentication for the user
//!   `postgres`; stopped and deleted on drop. As root (PostgreSQL refuses to run as root), the
//!   server runs as the `postgres` user that the system's package created.
//! - **External**: when `QBWI_TEST_DATABASE_URL` is set (a libpq connection string whose user may
//!   `CREATE DATABASE`), [`TempPostgres::start`] uses that server instead and starts nothing. Only
//!   `psql` is needed then, not the server's binaries; the databases the tests create are dropped
//!   again on drop.
//!
//! Where PostgreSQL is not installed, [`TempPostgres::start`] returns `None` so the caller can
//! skip, unless `QBWI_REQUIRE_POSTGRES=1` (set by `.ci/run`), which turns a missing PostgreSQL into
//! a failure.
//!
//! Each test that needs a clean slate asks for a database of its own with
//! [`TempPostgres::create_database`]; one server serves a whole test binary, since starting one
//! takes seconds.
//!
//! ```no_run
//! use qbwi_test_postgres::TempPostgres;
//!
//! let Some(server) = TempPostgres::start() else {
//!     return; // PostgreSQL is not installed, and not required
//! };
//! let url = server.create_database("claims");
//! assert!(url.contains("qbwi_test_claims_"));
//! // .. connect to `url`; the database goes away with `server`.
//! ```
//!
//! Standard library only: it drives PostgreSQL through its programs (`initdb`, `pg_ctl`, `psql`),
//! so that qbwi can dev-depend on it without building a second PostgreSQL client.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable that points the tests at the developer's own server.
const EXTERNAL_URL: &str = "QBWI_TEST_DATABASE_URL";
/// The variable that makes a missing PostgreSQL a failure instead of a skip.
const REQUIRE: &str = "QBWI_REQUIRE_POSTGRES";

/// A PostgreSQL server for one test binary: a throwaway one, or the developer's own (see the
/// [crate docs](crate)). Dropping it stops and deletes a throwaway server, or drops the databases
/// that [`TempPostgres::create_database`] made on an external one.
#[derive(Debug)]
pub struct TempPostgres {
    server: Server,
    /// The directory of the PostgreSQL programs used (the server's, or where `psql` is).
    bin: PathBuf,
    /// The databases [`TempPostgres::create_database`] made, to drop from an external server.
    databases: Mutex<Vec<String>>,
}

/// How a throwaway server keeps what it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: a commit waits for no disk, as
    /// tests want (what a crash of the machine would lose does not matter to them).
    #[default]
    Fast,
    /// PostgreSQL's defaults, as users run it: `fsync` and `synchronous_commit` on, so a commit
    /// waits for its WAL to reach the disk. For benchmarks.
    AsUsersRunIt,
}

impl Durability {
    /// The server options that give it.
    fn options(self) -> &'static str {
        match self {
            Durability::Fast => "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            Durability::AsUsersRunIt => {
                "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
            }
        }
    }
}

/// Which server a [`TempPostgres`] talks to.
#[derive(Debug)]
enum Server {
    /// Ours: its temporary directory (data, socket, log), port, the user it runs as, and how it
    /// keeps its commits.
    Throwaway {
        dir: PathBuf,
        port: u16,
        user: Option<(u32, u32)>,
        durability: Durability,
    },
    /// The developer's, from `QBWI_TEST_DATABASE_URL`.
    External { url: String },
}

impl TempPostgres {
    /// Starts a throwaway server, or connects to `QBWI_TEST_DATABASE_URL`'s; `None` when
    /// PostgreSQL is not installed (and not required).
    ///
    /// # Panics
    ///
    /// When PostgreSQL is installed but will not start (with its log in the message); when it is
    /// missing and `QBWI_REQUIRE_POSTGRES=1`; when `QBWI_TEST_DATABASE_URL` is set but `psql` is
    /// missing or cannot connect with it.
    #[must_use]
    pub fn start() -> Option<Self> {
        Self::start_with(Durability::Fast)
    }

    /// [`start`](Self::start), with a throwaway server that keeps its commits as `durability`
    /// says (an external server keeps its own settings).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    #[must_use]
    pub fn start_with(durability: Durability) -> Option<Self> {
        match std::env::var(EXTERNAL_URL) {
            Ok(url) if !url.trim().is_empty() => Some(Self::external(url)),
            _ => Self::throwaway(durability),
        }
    }

    /// Uses the developer's server: checks that `psql` reaches it.
    fn external(url: String) -> Self {
        let bin = find_bin_dir(&["psql"]).unwrap_or_else(|| {
            panic!(
                "{EXTERNAL_URL} is set, but `psql` was not found (looked for `pg_config --bindir`, \
                 /usr/lib/postgresql/*/bin and PATH): install the PostgreSQL client \
                 (`apt-get install postgresql-client`)"
            )
        });
        let server = TempPostgres {
            server: Server::External { url },
            bin,
            databases: Mutex::new(Vec::new()),
        };
        // Fail here, once, rather than in every test. The URL is not printed: it may hold a
        // password.
        server.psql(&server.url(), &["SELECT 1"]);
        server
    }

    /// Starts a throwaway server from the system's PostgreSQL.
    fn throwaway(durability: Durability) -> Option<Self> {
        let Some(bin) = find_bin_dir(&["initdb", "pg_ctl"]) else {
            let required = std::env::var(REQUIRE).is_ok_and(|value| value == "1");
            assert!(
                !required,
                "{REQUIRE}=1 but no PostgreSQL server binaries were found (looked for \
                 `pg_config --bindir`, /usr/lib/postgresql/*/bin and `initdb` on PATH): install \
                 them with `apt-get install postgresql`, or point {EXTERNAL_URL} at a server"
            );
            eprintln!(
                "PostgreSQL is not installed: skipping (set {REQUIRE}=1 to fail, or \
                 {EXTERNAL_URL} to use your own server)"
            );
            return None;
        };
        let user = run_as_postgres_user();
        let dir = std::env::temp_dir().join(format!(
            "qbwi-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("create the server's temporary directory");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .expect("give the directory to postgres");
        }
        let port = free_port();
        // Built before the server runs, so that a failure below still deletes the directory.
        let server = TempPostgres {
            server: Server::Throwaway {
                dir: dir.clone(),
                port,
                user,
                durability,
            },
            bin,
            databases: Mutex::new(Vec::new()),
        };
        let data = dir.join("data");
        server.run_server_program("initdb", |command| {
            command.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]);
        });
        server.pg_ctl_start();
        Some(server)
    }

    /// Starts the throwaway server's process (`pg_ctl start`), waiting until it accepts
    /// connections.
    fn pg_ctl_start(&self) {
        let Server::Throwaway {
            dir,
            port,
            durability,
            ..
        } = &self.server
        else {
            unreachable!("only a throwaway server is started")
        };
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 {} -c max_connections=200",
            dir.display(),
            durability.options(),
        );
        self.run_server_program("pg_ctl", |command| {
            command
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-w", "-t", "60", "-o", &options, "-l"]);
            command.arg(dir.join("server.log")).arg("start");
        });
    }

    /// Stops a throwaway server (`pg_ctl stop -m fast`: connections are cut), keeping its data,
    /// to test what happens when the database goes away. `false` (and nothing happens) for an
    /// external server: it is not ours to stop.
    pub fn stop(&self) -> bool {
        let Server::Throwaway { dir, .. } = &self.server else {
            return false;
        };
        self.run_server_program("pg_ctl", |command| {
            command
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-m", "fast", "-w", "stop"]);
        });
        true
    }

    /// Starts a server [`stop`](Self::stop)ped before, on the same port with the same data.
    ///
    /// # Panics
    ///
    /// For an external server, and when the server will not start.
    pub fn start_again(&self) {
        assert!(
            !self.is_external(),
            "an external server is not ours to start"
        );
        self.pg_ctl_start();
    }

    /// A connection string for the server's administrative database: for a throwaway server
    /// `postgres://postgres@127.0.0.1:PORT/postgres`; for an external one,
    /// `QBWI_TEST_DATABASE_URL` as given.
    ///
    /// Tests that change data should use [`TempPostgres::create_database`] instead.
    #[must_use]
    pub fn url(&self) -> String {
        match &self.server {
            Server::Throwaway { port, .. } => {
                format!("postgres://postgres@127.0.0.1:{port}/postgres")
            }
            Server::External { url } => url.clone(),
        }
    }

    /// The port a throwaway server listens on, on 127.0.0.1; `None` for an external server (its
    /// connection string says where it is, and it may be behind a forwarded port or a socket).
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        match &self.server {
            Server::Throwaway { port, .. } => Some(*port),
            Server::External { .. } => None,
        }
    }

    /// Whether this is the developer's server (`QBWI_TEST_DATABASE_URL`) rather than a throwaway
    /// one: it outlives the tests, and is shared with whatever else uses it.
    #[must_use]
    pub fn is_external(&self) -> bool {
        matches!(self.server, Server::External { .. })
    }

    /// The directory of the PostgreSQL programs: the throwaway server's binaries (`initdb`,
    /// `pg_ctl`, and usually `psql`); for an external server, where `psql` was found.
    #[must_use]
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The `psql` to run: the one in [`TempPostgres::bin_dir`], or else the one on PATH.
    #[must_use]
    pub fn psql_path(&self) -> PathBuf {
        let psql = self.bin.join("psql");
        if psql.is_file() { psql } else { "psql".into() }
    }

    /// Creates a new, empty database and returns a connection string for it (the server's
    /// [`TempPostgres::url`] with the database replaced).
    ///
    /// Its name is `qbwi_test_`, then `name_hint` reduced to lowercase letters, digits and `_`,
    /// then the process id and a counter, so that test binaries that share an external server do
    /// not collide. On an external server the database is dropped when `self` is.
    ///
    /// # Panics
    ///
    /// When `psql` fails (its message says why: for an external server, usually a user without
    /// the `CREATEDB` privilege).
    #[must_use]
    pub fn create_database(&self, name_hint: &str) -> String {
        static CREATED: AtomicU32 = AtomicU32::new(0);
        let hint: String = name_hint
            .chars()
            .map(|character| match character.to_ascii_lowercase() {
                lower @ ('a'..='z' | '0'..='9') => lower,
                _ => '_',
            })
            .take(32)
            .collect();
        let name = format!(
            "qbwi_test_{hint}_{}_{}",
            std::process::id(),
            CREATED.fetch_add(1, Ordering::Relaxed)
        );
        // The name is lowercase letters, digits and `_`: quoting it needs no escaping.
        self.psql(&self.url(), &[&format!("CREATE DATABASE \"{name}\"")]);
        let url = with_database(&self.url(), &name);
        self.databases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(name);
        url
    }

    /// Runs SQL commands with `psql` (each its own transaction); panics with its output if one
    /// fails.
    fn psql(&self, url: &str, commands: &[&str]) -> Output {
        let mut command = Command::new(self.psql_path());
        command
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
            // An unreachable server fails in seconds instead of hanging the tests.
            .env("PGCONNECT_TIMEOUT", "10");
        for sql in commands {
            command.args(["-c", sql]);
        }
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", self.psql_path().display()));
        assert!(
            output.status.success(),
            "psql failed ({}) on {} running {commands:?}:\n{}",
            output.status,
            if self.is_external() {
                "the server QBWI_TEST_DATABASE_URL names"
            } else {
                "the throwaway server"
            },
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs one of a throwaway server's programs as the server's user; panics with its output
    /// (and the server's log) if it fails.
    fn run_server_program(&self, program: &str, configure: impl FnOnce(&mut Command)) -> Output {
        let Server::Throwaway { dir, user, .. } = &self.server else {
            unreachable!("only a throwaway server runs server programs")
        };
        let mut command = Command::new(self.bin.join(program));
        configure(&mut command);
        command.current_dir(dir);
        if let Some((uid, gid)) = *user {
            command.uid(uid).gid(gid);
        }
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
        if !output.status.success() {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!(
                "{program} failed ({}):\n{}{}\nserver log:\n{log}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        output
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        match &self.server {
            Server::Throwaway { dir, user, .. } => {
                let mut command = Command::new(self.bin.join("pg_ctl"));
                command
                    .arg("-D")
                    .arg(dir.join("data"))
                    .args(["-m", "immediate", "-w", "stop"]);
                if let Some((uid, gid)) = *user {
                    command.uid(uid).gid(gid);
                }
                let _ = command.output();
                let _ = std::fs::remove_dir_all(dir);
            }
            Server::External { url } => {
                let databases = std::mem::take(
                    self.databases
                        .get_mut()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                if databases.is_empty() {
                    return;
                }
                // FORCE (PostgreSQL 13+) ends the sessions a failed test may have left behind.
                let drops: Vec<String> = databases
                    .iter()
                    .map(|name| format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .collect();
                let mut command = Command::new(self.psql_path());
                command
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
                    .env("PGCONNECT_TIMEOUT", "10");
                for sql in &drops {
                    command.args(["-c", sql]);
                }
                let dropped = command.output().is_ok_and(|output| output.status.success());
                if !dropped {
                    eprintln!(
                        "could not drop the test databases {databases:?} from {EXTERNAL_URL}'s \
                         server: drop them by hand"
                    );
                }
            }
        }
    }
}

/// `url` with its database replaced by `database`: the path of a `postgres://` URL, or a
/// `dbname=` pair appended to key-value pairs (the last one wins).
fn with_database(url: &str, database: &str) -> String {
    let Some(scheme) = ["postgres://", "postgresql://"]
        .into_iter()
        .find(|scheme| url.starts_with(scheme))
    else {
        return format!("{url} dbname={database}");
    };
    let query_at = url.find('?').unwrap_or(url.len());
    let path_at = url[scheme.len()..query_at]
        .find('/')
        .map_or(query_at, |at| scheme.len() + at);
    format!("{}/{database}{}", &url[..path_at], &url[query_at..])
}

/// The first directory that holds all of `programs`: `pg_config --bindir`, then
/// `/usr/lib/postgresql/*/bin` (newest version first), then PATH.
fn find_bin_dir(programs: &[&str]) -> Option<PathBuf> {
    let has_all = |dir: &Path| programs.iter().all(|program| dir.join(program).is_file());
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    versions.sort_by_key(|dir| std::cmp::Reverse(dir.parent().and_then(version_of)));
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    from_pg_config
        .into_iter()
        .chain(versions)
        .chain(on_path)
        .find(|dir| has_all(dir))
}

/// `15` for `/usr/lib/postgresql/15`.
fn version_of(dir: &Path) -> Option<u32> {
    dir.file_name()?.to_str()?.parse().ok()
}

/// As root, the `postgres` user's uid and gid; otherwise `None` (run as ourselves).
fn run_as_postgres_user() -> Option<(u32, u32)> {
    let id = |args: &[&str]| -> Option<u32> {
        let output = Command::new("id").args(args).output().ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    if id(&["-u"])? != 0 {
        return None;
    }
    let ids = id(&["-u", "postgres"]).zip(id(&["-g", "postgres"]));
    assert!(
        ids.is_some(),
        "running as root, and there is no `postgres` user to run PostgreSQL as: create one \
         (`useradd --system postgres`), run the tests as another user, or point {EXTERNAL_URL} at \
         a server"
    );
    ids
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    listener.local_addr().expect("the bound address").port()
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_replaced_in_urls_and_key_value_pairs() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/fresh",
            ),
            (
                "postgresql://app:pw@db/app?sslmode=disable",
                "postgresql://app:pw@db/fresh?sslmode=disable",
            ),
            ("postgres://app@db:6543", "postgres://app@db:6543/fresh"),
            (
                "postgres://app@db?sslmode=disable",
                "postgres://app@db/fresh?sslmode=disable",
            ),
            (
                "host=/run/postgresql user=app dbname=app",
                "host=/run/postgresql user=app dbname=app dbname=fresh",
            ),
        ] {
            assert_eq!(with_database(url, "fresh"), expected, "{url}");
        }
    }
}
