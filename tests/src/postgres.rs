//! A throwaway PostgreSQL server for tests: `initdb` and `pg_ctl` from the system's PostgreSQL, in
//! a temporary directory, on a free local port, stopped and deleted on drop.
//!
//! As root (PostgreSQL refuses to run as root), the server runs as the `postgres` user that the
//! system's package created. Where PostgreSQL is not installed, [`TempPostgres::start`] returns
//! `None` so the caller can skip, unless `QBWI_REQUIRE_POSTGRES=1` (set by `.ci/run`), which turns
//! a missing PostgreSQL into a failure.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running PostgreSQL server owned by the test; stopped and deleted on drop.
#[derive(Debug)]
pub struct TempPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    user: Option<(u32, u32)>,
}

impl TempPostgres {
    /// Starts a server, or returns `None` when PostgreSQL is not installed (and not required).
    ///
    /// # Panics
    ///
    /// When PostgreSQL is installed but will not start (with its log in the message), or when it
    /// is missing and `QBWI_REQUIRE_POSTGRES=1`.
    pub fn start() -> Option<Self> {
        let Some(bin) = find_bin_dir() else {
            let required = std::env::var("QBWI_REQUIRE_POSTGRES").is_ok_and(|value| value == "1");
            assert!(
                !required,
                "QBWI_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries were found (looked for \
                 `pg_config --bindir`, /usr/lib/postgresql/*/bin and `initdb` on PATH): install \
                 them with `apt-get install postgresql`"
            );
            eprintln!(
                "PostgreSQL is not installed: skipping (set QBWI_REQUIRE_POSTGRES=1 to fail)"
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
        let server = TempPostgres {
            bin,
            dir,
            port,
            user,
        };
        let data = server.dir.join("data");
        server.run("initdb", |command| {
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
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            server.dir.display()
        );
        server.run("pg_ctl", |command| {
            command
                .arg("-D")
                .arg(&data)
                .args(["-w", "-t", "60", "-o", &options, "-l"]);
            command.arg(server.dir.join("server.log")).arg("start");
        });
        Some(server)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's binaries (`psql` is there too).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Runs one of the server's programs as the server's user; panics with its output (and the
    /// server's log) if it fails.
    fn run(&self, program: &str, configure: impl FnOnce(&mut Command)) -> Output {
        let mut command = Command::new(self.bin.join(program));
        configure(&mut command);
        command.current_dir(&self.dir);
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
        if !output.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
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
        let mut command = Command::new(self.bin.join("pg_ctl"));
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        let _ = command.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where `initdb` and `pg_ctl` are.
fn find_bin_dir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
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
        .find(|dir| has_server(dir))
}

fn version_of(dir: &Path) -> Option<u32> {
    dir.file_name()?.to_str()?.parse().ok()
}

/// As root, the `postgres` user's uid and gid; otherwise `None` (run as ourselves).
fn run_as_postgres_user() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let output = Command::new("id").arg(flag).output().ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    if id("-u")? != 0 {
        return None;
    }
    let user = |flag: &str| -> Option<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    };
    let ids = user("-u").zip(user("-g"));
    assert!(
        ids.is_some(),
        "running as root, and there is no `postgres` user to run PostgreSQL as: create one \
         (`useradd --system postgres`) or run the tests as another user"
    );
    ids
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    listener.local_addr().expect("the bound address").port()
}
