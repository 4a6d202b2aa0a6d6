//! Reading rows that qbwi may not have written. PostgreSQL checks types, but a database whose
//! encoding is `SQL_ASCII` keeps any bytes as text (so text may not be UTF-8: the statements
//! return such columns as `bytea`, since the server refuses to send them as text), and a
//! migration by hand can drop a `NOT NULL` or change a column's type.
//!
//! What a job is made of the columns, and what is done when one cannot be read, is
//! `store::rows`, shared with SQLite.

use std::error::Error;

use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

use crate::store::rows::{self as shared, StoredRow};
use crate::store::{ClaimedJob, DeadJob, JobDetail, JobId, JobSummary};

/// A row of the claim's `RETURNING id, task, payload, attempts, max_attempts, waited`; `None` if
/// even its id cannot be read (a changed schema: nothing can be reported for such a row, and it is
/// logged).
pub(super) fn claimed_job(row: &Row) -> Option<ClaimedJob> {
    Some(shared::claimed_job(job_id(row)?, &Columns(row)))
}

/// A row of `SELECT id, task, payload, attempts, COALESCE(last_error, '')`; `None` if its id
/// cannot be read.
pub(super) fn dead_job(row: &Row) -> Option<DeadJob> {
    Some(shared::dead_job(job_id(row)?, &Columns(row)))
}

/// A row of [`job_columns`](crate::store::rows::job_columns), as a listing shows it.
pub(super) fn job_summary(row: &Row) -> Option<JobSummary> {
    Some(shared::job_summary(job_id(row)?, &Columns(row)))
}

/// A row of [`job_columns`](crate::store::rows::job_columns), with all it holds.
pub(super) fn job_detail(row: &Row) -> Option<JobDetail> {
    Some(shared::job_detail(job_id(row)?, &Columns(row)))
}

/// A PostgreSQL row, read column by column.
struct Columns<'a>(&'a Row);

impl StoredRow for Columns<'_> {
    fn text(&self, index: usize, column: &str) -> Result<String, String> {
        text(self.0, index, column)
    }

    fn count(&self, index: usize, column: &str) -> Result<u32, String> {
        count(self.0, index, column)
    }

    fn shown(&self, index: usize) -> String {
        shown(self.0, index)
    }

    fn millis(&self, index: usize) -> Option<i64> {
        self.0.try_get::<_, Option<i64>>(index).ok().flatten()
    }

    fn flag(&self, index: usize) -> bool {
        self.0
            .try_get::<_, Option<bool>>(index)
            .ok()
            .flatten()
            .unwrap_or(false)
    }
}

/// Column 0, the job's id (`bigint`).
fn job_id(row: &Row) -> Option<JobId> {
    match row.try_get::<_, i64>(0) {
        Ok(id) => Some(JobId(id)),
        Err(error) => {
            tracing::error!(
                %error,
                "a job's id cannot be read (has the table `qbwi_jobs` been changed?): skipped"
            );
            None
        }
    }
}

/// A text column's bytes, as the server sent them (as text, or as `bytea`): `String`'s `FromSql`
/// refuses bytes that are not UTF-8 without saying which column, so the check is done here.
struct RawText<'a>(&'a [u8]);

impl<'a> FromSql<'a> for RawText<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(RawText(raw))
    }

    fn accepts(ty: &Type) -> bool {
        // The types whose binary form is the text's bytes.
        matches!(
            *ty,
            Type::BYTEA | Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
        )
    }
}

/// A column qbwi writes as UTF-8 text; `Err`: what it holds instead.
fn text(row: &Row, index: usize, column: &str) -> Result<String, String> {
    match row.try_get::<_, Option<RawText<'_>>>(index) {
        Ok(Some(RawText(bytes))) => String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("its {column} is not valid UTF-8")),
        Ok(None) => Err(format!("its {column} is NULL")),
        Err(_) => Err(format!(
            "its {column} is of type `{}`, not text",
            type_name(row, index)
        )),
    }
}

/// A column qbwi writes as a count (`integer`, never negative); `Err`: what it holds instead. A
/// negative count reads as 0.
fn count(row: &Row, index: usize, column: &str) -> Result<u32, String> {
    match row.try_get::<_, Option<i32>>(index) {
        Ok(Some(count)) => Ok(u32::try_from(count).unwrap_or(0)),
        Ok(None) => Err(format!("its {column} is NULL")),
        Err(_) => Err(format!(
            "its {column} is of type `{}`, not an integer",
            type_name(row, index)
        )),
    }
}

/// A text column for display: bytes that are not UTF-8 as U+FFFD, a value that is not text as a
/// placeholder that says what it is.
fn shown(row: &Row, index: usize) -> String {
    match row.try_get::<_, Option<RawText<'_>>>(index) {
        Ok(Some(RawText(bytes))) => String::from_utf8_lossy(bytes).into_owned(),
        Ok(None) => "(not text: NULL)".to_owned(),
        Err(_) => format!("(not text: of type `{}`)", type_name(row, index)),
    }
}

/// The PostgreSQL type of column `index`, for messages.
fn type_name(row: &Row, index: usize) -> &str {
    row.columns()
        .get(index)
        .map_or("unknown", |column| column.type_().name())
}
