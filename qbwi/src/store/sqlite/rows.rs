//! How a column of a SQLite row reads. SQLite keeps any value in any column (a column's type is
//! only an affinity), so another program, a bad migration or a damaged file can leave a BLOB, or
//! bytes that are not UTF-8, where qbwi writes text, or text where it writes a count. What a job is
//! made of the columns, and what is done when one cannot be read, is `store::rows`, shared with
//! PostgreSQL.

use rusqlite::Row;
use rusqlite::types::ValueRef;

use crate::store::rows::{self as shared, StoredRow};
use crate::store::{ClaimedJob, DeadJob, JobDetail, JobId, JobSummary};

/// A row of the claim's `RETURNING id, task, payload, attempts, max_attempts, waited` (`id` is
/// the rowid: always an integer).
pub(super) fn claimed_job(row: &Row<'_>) -> rusqlite::Result<ClaimedJob> {
    Ok(shared::claimed_job(JobId(row.get(0)?), &Columns(row)))
}

/// A row of `SELECT id, task, payload, attempts, COALESCE(last_error, '')`.
pub(super) fn dead_job(row: &Row<'_>) -> rusqlite::Result<DeadJob> {
    Ok(shared::dead_job(JobId(row.get(0)?), &Columns(row)))
}

/// A row of [`job_columns`](crate::store::rows::job_columns), as a listing shows it.
pub(super) fn job_summary(row: &Row<'_>) -> rusqlite::Result<JobSummary> {
    Ok(shared::job_summary(JobId(row.get(0)?), &Columns(row)))
}

/// A row of [`job_columns`](crate::store::rows::job_columns), with all it holds.
pub(super) fn job_detail(row: &Row<'_>) -> rusqlite::Result<JobDetail> {
    Ok(shared::job_detail(JobId(row.get(0)?), &Columns(row)))
}

/// A SQLite row, read column by column.
struct Columns<'a, 'row>(&'a Row<'row>);

impl StoredRow for Columns<'_, '_> {
    fn text(&self, index: usize, column: &str) -> Result<String, String> {
        text(self.value(index, column)?, column)
    }

    fn count(&self, index: usize, column: &str) -> Result<u32, String> {
        count(self.value(index, column)?, column)
    }

    fn shown(&self, index: usize) -> String {
        match self.0.get_ref(index) {
            Ok(value) => shown(value),
            Err(_) => "(not text: no such column)".to_owned(),
        }
    }

    fn millis(&self, index: usize) -> Option<i64> {
        match self.0.get_ref(index) {
            Ok(ValueRef::Integer(millis)) => Some(millis),
            _ => None,
        }
    }

    fn flag(&self, index: usize) -> bool {
        matches!(self.0.get_ref(index), Ok(ValueRef::Integer(value)) if value != 0)
    }
}

impl Columns<'_, '_> {
    /// Column `index`; `Err` if the statement has no such column (qbwi's statements always do).
    fn value(&self, index: usize, column: &str) -> Result<ValueRef<'_>, String> {
        self.0
            .get_ref(index)
            .map_err(|_| format!("its {column} is missing from the row"))
    }
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
