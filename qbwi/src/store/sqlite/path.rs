//! Which paths give a store that keeps its jobs. SQLite opens some names as databases that are
//! never written to a file of their own: an empty path is a private temporary database, deleted
//! when it closes; `:memory:`, a URI naming `:memory:`, `mode=memory` or the `memdb` VFS are held in
//! memory. A durable store on one of them would return a `JobId` for every job and lose them all at
//! exit, so `Store::sqlite` refuses them.

use std::path::Path;

/// What to give instead of a path that [`not_durable`] refuses.
pub(super) const INSTEAD: &str = "give the path of a database file instead, such as `qbwi.db` \
                                  (qbwi creates it if it does not exist)";

/// Why opening `path` would give a database that is not kept in a file, if it would (as SQLite
/// reads names: <https://sqlite.org/uri.html>).
pub(super) fn not_durable(path: &Path) -> Option<String> {
    // A name that is not UTF-8 is a file name: SQLite's special names and URIs are ASCII.
    let name = path.to_str()?;
    if name.is_empty() {
        return Some(
            "an empty path opens a private temporary database, which SQLite deletes when the \
             store closes"
                .to_owned(),
        );
    }
    if name == ":memory:" {
        return Some(
            "`:memory:` opens an in-memory database, which is gone when the process exits"
                .to_owned(),
        );
    }
    let uri = name.strip_prefix("file:")?;
    let uri = uri.split_once('#').map_or(uri, |(before, _)| before);
    let (file, query) = uri.split_once('?').unwrap_or((uri, ""));
    // `file://authority/path`: the authority (empty or `localhost`) is not part of the path.
    let file = match file.strip_prefix("//") {
        Some(rest) => rest.find('/').map_or("", |slash| &rest[slash..]),
        None => file,
    };
    let file = percent_decoded(file);
    if file.is_empty() {
        return Some(
            "the URI names no file, so SQLite opens a private temporary database, which it \
             deletes when the store closes"
                .to_owned(),
        );
    }
    if file == ":memory:" {
        return Some(
            "the URI names `:memory:`, an in-memory database, which is gone when the process exits"
                .to_owned(),
        );
    }
    for parameter in query.split('&') {
        let (key, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        match (
            percent_decoded(key).as_str(),
            percent_decoded(value).as_str(),
        ) {
            ("mode", "memory") => {
                return Some(
                    "the URI asks for `mode=memory`, an in-memory database, which is gone when \
                     the process exits"
                        .to_owned(),
                );
            }
            ("vfs", "memdb") => {
                return Some(
                    "the URI asks for the `memdb` VFS, an in-memory database, which is gone when \
                     the process exits"
                        .to_owned(),
                );
            }
            _ => {}
        }
    }
    None
}

/// `%HH` escapes decoded, as SQLite decodes a URI's path and parameters (other bytes as they
/// are; bytes that do not form UTF-8 as U+FFFD, which no special name contains).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = bytes
            .get(at + 1..at + 3)
            .filter(|_| bytes[at] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                at += 3;
            }
            None => {
                decoded.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_keep_no_file_are_refused_and_files_are_not() {
        for refused in [
            "",
            ":memory:",
            "file::memory:",
            "file::memory:?cache=shared",
            "file:%3Amemory%3A",
            "file:",
            "file:?mode=rwc",
            "file://",
            "file://localhost",
            "file:jobs.db?mode=memory",
            "file:jobs.db?cache=shared&mode=memory",
            "file:jobs.db?mode=%6Demory",
            "file:/tmp/jobs.db?vfs=memdb",
        ] {
            assert!(
                not_durable(Path::new(refused)).is_some(),
                "{refused:?} keeps no file"
            );
        }
        for kept in [
            "qbwi.db",
            "/var/lib/app/qbwi.db",
            "memory",
            "./:memory:",
            "file:qbwi.db",
            "file:/var/lib/app/qbwi.db?mode=ro",
            "file://localhost/var/lib/app/qbwi.db?mode=rwc",
            "file:qbwi.db#mode=memory",
        ] {
            assert_eq!(not_durable(Path::new(kept)), None, "{kept:?} is a file");
        }
        assert_eq!(percent_decoded("a%41%4a%zz%4"), "aAJ%zz%4");
    }
}
