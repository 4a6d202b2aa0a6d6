//! Reading a job's row, written once for every backend. A row may hold what qbwi never writes
//! (another program, a migration by hand or a damaged file changed it): a payload that is not
//! text, text that is not UTF-8, a count that is not a number. Each backend says how one of its
//! columns reads ([`StoredRow`]); what a job is made of them, and what is done when a column cannot
//! be read, is decided here.
//!
//! Nothing fails the whole claim or the whole listing: a claimed row that cannot be read becomes a
//! job whose payload is `Err(why)` (the worker makes it dead at once, and every other job runs),
//! and a dead row is listed with what can be shown of it. What is wrong is described by kind; a
//! row's bytes never go into a message (arguments are personal data).

use std::time::Duration;

use super::{ClaimedJob, DeadJob, JobDetail, JobId, JobState, JobSummary, from_millis};

/// One row as a backend reads it, column by column (by index in the statement's result).
pub(crate) trait StoredRow {
    /// A column qbwi writes as UTF-8 text; `Err`: what it holds instead, as "its `column` is a
    /// BLOB, not text".
    fn text(&self, index: usize, column: &str) -> Result<String, String>;
    /// A column qbwi writes as a count (never negative); `Err`: what it holds instead.
    fn count(&self, index: usize, column: &str) -> Result<u32, String>;
    /// A text column for display: bytes that are not UTF-8 as U+FFFD, a value that is not text
    /// as a placeholder that says what it is (`(not text: a BLOB of 12 bytes)`).
    fn shown(&self, index: usize) -> String;
    /// A time column, as milliseconds since the epoch (the statement converts it); `None` if it
    /// is NULL or cannot be read.
    fn millis(&self, index: usize) -> Option<i64>;
    /// A boolean column; `false` if it cannot be read.
    fn flag(&self, index: usize) -> bool;
}

/// The columns of a [`JobSummary`], in the order [`job_summary`] reads them (after `id`), then
/// those [`job_detail`] adds, in each store's SQL: `text` reads a text column (as its bytes, where
/// the server may refuse to send text that is not UTF-8), `ms` turns a time column into
/// milliseconds since the epoch, and `now` is the store's time.
pub(crate) fn job_columns(text: fn(&str) -> String, ms: fn(&str) -> String, now: &str) -> String {
    format!(
        "id, {task}, state, attempts, max_attempts, {created}, {run_at}, {finished}, {error}, \
         run_at <= {now}, {started}, {worker}, {lease}, cancel_requested, {payload}",
        task = text("task"),
        error = text("last_error"),
        worker = text("worker"),
        payload = text("payload"),
        created = ms("created_at"),
        run_at = ms("run_at"),
        finished = ms("finished_at"),
        started = ms("started_at"),
        lease = ms("lease_until"),
    )
}

/// A row of [`job_columns`], as a listing shows it.
pub(crate) fn job_summary(id: JobId, row: &impl StoredRow) -> JobSummary {
    let attempts = row.count(3, "attempts").unwrap_or(0);
    let state = row.text(2, "state").unwrap_or_default();
    JobSummary {
        id,
        task: row.shown(1),
        state: JobState::of_row(&state, row.flag(9), attempts),
        attempts,
        max_attempts: row.count(4, "max_attempts").unwrap_or(0),
        created_at: from_millis(row.millis(5).unwrap_or(0)),
        run_at: from_millis(row.millis(6).unwrap_or(0)),
        finished_at: row.millis(7).map(from_millis),
        last_error: row.text(8, "last_error").ok(),
    }
}

/// A row of [`job_columns`], with all it holds.
pub(crate) fn job_detail(id: JobId, row: &impl StoredRow) -> JobDetail {
    JobDetail {
        summary: job_summary(id, row),
        started_at: row.millis(10).map(from_millis),
        node: row.text(11, "worker").ok(),
        lease_until: row.millis(12).map(from_millis),
        cancel_requested: row.flag(13),
        arguments: row.shown(14),
    }
}

/// The job of a row of the claim's `RETURNING id, task, payload, attempts, max_attempts, waited`
/// (milliseconds since it was due), whose `id` the backend read.
pub(crate) fn claimed_job(id: JobId, row: &impl StoredRow) -> ClaimedJob {
    let mut problems = Vec::new();
    let mut note = |problem: String| problems.push(problem);
    let task = row.text(1, "task").unwrap_or_else(|problem| {
        note(problem);
        row.shown(1)
    });
    let payload = row.text(2, "payload").map_err(&mut note).ok();
    let attempt = row.count(3, "attempts").map_err(&mut note).ok();
    let max_attempts = row.count(4, "max_attempts").map_err(&mut note).ok();
    let payload = match payload {
        Some(payload) if problems.is_empty() => Ok(payload),
        _ => Err(unreadable(&problems)),
    };
    ClaimedJob {
        id,
        task,
        payload,
        // A job that cannot be read is dead at once: its counts are never used.
        attempt: attempt.unwrap_or(1),
        max_attempts: max_attempts.unwrap_or(1),
        waited: Duration::from_millis(row.millis(5).unwrap_or(0).max(0) as u64),
    }
}

/// The dead job of a row of `SELECT id, task, payload, attempts, COALESCE(last_error, '')`, shown
/// as well as it can be.
pub(crate) fn dead_job(id: JobId, row: &impl StoredRow) -> DeadJob {
    DeadJob {
        id,
        task: row.shown(1),
        payload: row.shown(2),
        attempts: row.count(3, "attempts").unwrap_or(0),
        last_error: row.shown(4),
    }
}

/// The `last_error` of a claimed job whose row cannot be read: what is wrong with it (`problems`,
/// such as "its payload is a BLOB, not text"), never the row's bytes.
pub(crate) fn unreadable(problems: &[String]) -> String {
    format!(
        "the stored job cannot be read: {} (qbwi never writes that: another program, a migration \
         or a damaged file changed the row); correct the row and retry the job, or delete it",
        problems.join(", and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of fixed columns: `Ok` reads, `Err` says what it holds instead.
    struct Fixed(Vec<Result<&'static str, &'static str>>);

    impl StoredRow for Fixed {
        fn text(&self, index: usize, column: &str) -> Result<String, String> {
            self.0[index]
                .map(str::to_owned)
                .map_err(|kind| format!("its {column} is {kind}, not text"))
        }
        fn count(&self, index: usize, column: &str) -> Result<u32, String> {
            let text = self.text(index, column)?;
            text.parse()
                .map_err(|_| format!("its {column} is text, not an integer"))
        }
        fn shown(&self, index: usize) -> String {
            match self.0[index] {
                Ok(text) => text.to_owned(),
                Err(kind) => format!("(not text: {kind})"),
            }
        }
        fn millis(&self, index: usize) -> Option<i64> {
            self.0[index].ok()?.parse().ok()
        }
        fn flag(&self, index: usize) -> bool {
            self.0[index] == Ok("true")
        }
    }

    #[test]
    fn a_readable_row_is_a_job_and_an_unreadable_one_says_every_problem_without_its_bytes() {
        let id = JobId(7);
        let good = Fixed(vec![
            Ok("7"),
            Ok("mail"),
            Ok("{}"),
            Ok("2"),
            Ok("3"),
            Ok("1500"),
        ]);
        let job = claimed_job(id, &good);
        assert_eq!(
            (job.task.as_str(), job.payload.as_deref(), job.attempt),
            ("mail", Ok("{}"), 2)
        );
        assert_eq!(job.max_attempts, 3);
        assert_eq!(job.waited, std::time::Duration::from_millis(1500));

        let bad = Fixed(vec![
            Ok("7"),
            Err("a BLOB"),
            Ok("secret"),
            Ok("x"),
            Ok("3"),
            Ok("-5"),
        ]);
        let job = claimed_job(id, &bad);
        assert_eq!(job.task, "(not text: a BLOB)");
        let error = job.payload.expect_err("cannot be read");
        assert!(
            error.starts_with(
                "the stored job cannot be read: its task is a BLOB, not text, and its attempts \
                 is text, not an integer"
            ),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
        assert_eq!((job.attempt, job.max_attempts), (1, 3));
        assert_eq!(
            job.waited,
            std::time::Duration::ZERO,
            "due later by a clock ahead: no wait"
        );

        let dead = dead_job(id, &bad);
        assert_eq!(
            (dead.task.as_str(), dead.payload.as_str(), dead.attempts),
            ("(not text: a BLOB)", "secret", 0)
        );
    }
}
