//! Reading rows that qbwi may not have written. SQLite keeps any value in any column (a column's
//! type is only an affinity), so another program, a bad migration or a damaged file can leave a
//! BLOB, or bytes that are not UTF-8, where qbwi writes text, or text where it writes a count.
//!
//! Nothing here fails the whole claim or the whole listing: a claimed row that cannot be read
//! becomes a job whose payload is `Err(why)` (the worker makes it dead at once, and every other
//! job runs), and a dead row is listed with what can be shown of it. What is wrong is described
//! by kind; a row's bytes never go into a message (arguments are personal data).

use rusqlite::Row;
use rusqlite::types::ValueRef;

use crate::store::{ClaimedJob, DeadJob, JobId, unreadable};

/// A row of the claim's `RETURNING id, task, payload, attempts, max_attempts`.
pub(super) fn claimed_job(row: &Row<'_>) -> rusqlite::Result<ClaimedJob> {
    let mut problems = Vec::new();
    let mut note = |problem: String| problems.push(problem);
    // `id` is the rowid: always an integer.
    let id = JobId(row.get(0)?);
    let task = row.get_ref(1)?;
    let task = text(task, "task").unwrap_or_else(|problem| {
        note(problem);
        shown(task)
    });
    let payload = text(row.get_ref(2)?, "payload").map_err(&mut note).ok();
    let attempt = count(row.get_ref(3)?, "attempts").map_err(&mut note).ok();
    let max_attempts = count(row.get_ref(4)?, "max_attempts")
        .map_err(&mut note)
        .ok();
    let payload = match payload {
        Some(payload) if problems.is_empty() => Ok(payload),
        _ => Err(unreadable(&problems)),
    };
    Ok(ClaimedJob {
        id,
        task,
        payload,
        // A job that cannot be read is dead at once: its counts are never used.
        attempt: attempt.unwrap_or(1),
        max_attempts: max_attempts.unwrap_or(1),
    })
}

/// A row of `SELECT id, task, payload, attempts, COALESCE(last_error, '')`, shown as well as it
/// can be.
pub(super) fn dead_job(row: &Row<'_>) -> rusqlite::Result<DeadJob> {
    Ok(DeadJob {
        id: JobId(row.get(0)?),
        task: shown(row.get_ref(1)?),
        payload: shown(row.get_ref(2)?),
        attempts: count(row.get_ref(3)?, "attempts").unwrap_or(0),
        last_error: shown(row.get_ref(4)?),
    })
}

/// A column qbwi writes as UTF-8 text; `Err`: what it holds instead.
fn text(value: ValueRef<'_>, column: &str) -> Result<String, String> {
    match value {
        ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("its {column} is not valid UTF-8")),
        other => Err(format!("its {column} is {}, not text", kind(other))),
    }
}

/// A column qbwi writes as a count (an integer, never negative); `Err`: what it holds instead. A
/// negative count reads as 0 and one past `u32::MAX` as `u32::MAX`.
fn count(value: ValueRef<'_>, column: &str) -> Result<u32, String> {
    match value {
        ValueRef::Integer(count) => Ok(u32::try_from(count.max(0)).unwrap_or(u32::MAX)),
        other => Err(format!("its {column} is {}, not an integer", kind(other))),
    }
}

/// A text column for display: bytes that are not UTF-8 as U+FFFD, a value that is not text as a
/// placeholder that says what it is.
fn shown(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        ValueRef::Blob(bytes) => format!("(not text: a BLOB of {} bytes)", bytes.len()),
        other => format!("(not text: {})", kind(other)),
    }
}

/// What kind of SQLite value this is, for messages.
fn kind(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real number",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a BLOB",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_or_say_what_they_are_without_their_bytes() {
        assert_eq!(text(ValueRef::Text(b"{}"), "payload"), Ok("{}".to_owned()));
        assert_eq!(
            text(ValueRef::Blob(b"secret"), "payload"),
            Err("its payload is a BLOB, not text".to_owned())
        );
        assert_eq!(
            text(ValueRef::Text(b"secret\xff"), "payload"),
            Err("its payload is not valid UTF-8".to_owned())
        );
        assert_eq!(count(ValueRef::Integer(3), "attempts"), Ok(3));
        assert_eq!(count(ValueRef::Integer(-3), "attempts"), Ok(0));
        assert_eq!(count(ValueRef::Integer(1 << 40), "attempts"), Ok(u32::MAX));
        assert_eq!(
            count(ValueRef::Text(b"secret"), "max_attempts"),
            Err("its max_attempts is text, not an integer".to_owned())
        );
        assert_eq!(
            count(ValueRef::Real(2.5), "attempts"),
            Err("its attempts is a real number, not an integer".to_owned())
        );
        assert_eq!(shown(ValueRef::Text(b"a\xffb")), "a\u{fffd}b");
        assert_eq!(
            shown(ValueRef::Blob(b"secret")),
            "(not text: a BLOB of 6 bytes)"
        );
        assert_eq!(shown(ValueRef::Null), "(not text: NULL)");
    }
}
