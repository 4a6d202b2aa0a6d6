//! What [`Store::postgres`](crate::Store::postgres) accepts ([`PostgresConfig`]), and how a server
//! is named in messages and logs: by host, port and database, never with its password.

use std::fmt;

use deadpool_postgres::Pool;
use tokio_postgres::config::Host;

/// What [`Store::postgres`](crate::Store::postgres) accepts: a connection string
/// (`postgres://user:pass@host:port/db` or `host=.. user=..`), or a ready deadpool-postgres pool.
///
/// Built with `From`, so `Store::postgres(&url)` and `Store::postgres(pool)` both work.
///
/// - From a **connection string**, qbwi builds a pool of up to 16 connections (without TLS), with
///   timeouts on connecting (10 s for TCP, 15 s in all) and on waiting for a free connection
///   (30 s), and opens one more connection of its own that `LISTEN`s for jobs added by other
///   processes, so idle workers start them at once.
/// - From a **pool** (to share your application's pool, or to connect with TLS), qbwi uses its
///   connections, and opens none of its own: the pool's connections cannot receive notifications,
///   so idle workers find jobs added by other processes by polling (see the host's poll interval).
#[non_exhaustive]
pub enum PostgresConfig {
    /// A connection string: a URL (`postgres://user:password@host:5432/database`) or key-value
    /// pairs (`host=localhost user=app dbname=app`), as libpq accepts.
    Url(String),
    /// A ready pool. qbwi does not resize or close it.
    Pool(Pool),
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never the password: a config may well end up in a log.
            PostgresConfig::Url(url) => f.debug_tuple("Url").field(&redact(url)).finish(),
            PostgresConfig::Pool(pool) => f.debug_tuple("Pool").field(pool).finish(),
        }
    }
}

impl From<&str> for PostgresConfig {
    fn from(url: &str) -> Self {
        PostgresConfig::Url(url.to_owned())
    }
}

impl From<String> for PostgresConfig {
    fn from(url: String) -> Self {
        PostgresConfig::Url(url)
    }
}

impl From<&String> for PostgresConfig {
    fn from(url: &String) -> Self {
        PostgresConfig::Url(url.clone())
    }
}

impl From<Pool> for PostgresConfig {
    fn from(pool: Pool) -> Self {
        PostgresConfig::Pool(pool)
    }
}

/// `PostgreSQL at host:port/database`, from a connection string's settings.
pub(super) fn describe_config(config: &tokio_postgres::Config) -> String {
    let mut hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => bracket_ipv6(name),
            #[cfg(unix)]
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if hosts.is_empty() {
        hosts = config
            .get_hostaddrs()
            .iter()
            .map(|address| bracket_ipv6(&address.to_string()))
            .collect();
    }
    let host = if hosts.is_empty() {
        "(no host)".to_owned()
    } else {
        hosts.join(",")
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    // libpq's default database is the user's name.
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("PostgreSQL at {host}:{port}/{database}")
}

/// `[::1]` for an IPv6 address, so that the port after it reads clearly.
pub(super) fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') && !host.starts_with('/') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The connection string with its password replaced by `***`: in a URL's user info, and in
/// `password=..` pairs (key-value form, or a URL's query).
pub(super) fn redact(connection: &str) -> String {
    let mut text = connection.to_owned();
    if let Some(scheme) = text.find("://") {
        let start = scheme + 3;
        let end = text[start..]
            .find(['/', '?'])
            .map_or(text.len(), |at| start + at);
        if let Some(at) = text[start..end].rfind('@')
            && let Some(colon) = text[start..start + at].find(':')
        {
            text.replace_range(start + colon + 1..start + at, "***");
        }
    }
    let mut from = 0;
    while let Some(found) = text[from..].find("password") {
        let mut at = from + found + "password".len();
        let rest = &text[at..];
        let spaces = rest.len() - rest.trim_start().len();
        if !rest[spaces..].starts_with('=') {
            from = at;
            continue;
        }
        at += spaces + 1;
        let rest = &text[at..];
        at += rest.len() - rest.trim_start().len();
        let value = &text[at..];
        let length = if let Some(quoted) = value.strip_prefix('\'') {
            // Up to the closing quote; `\'` and `\\` are escapes.
            let mut escaped = false;
            let mut end = value.len();
            for (index, character) in quoted.char_indices() {
                match character {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '\'' => {
                        end = index + 2;
                        break;
                    }
                    _ => {}
                }
            }
            end
        } else {
            value
                .find(|character: char| character.is_whitespace() || character == '&')
                .unwrap_or(value.len())
        };
        text.replace_range(at..at + length, "***");
        from = at + 3;
    }
    text
}
