//! The operator's statements that both stores run alike, written once: a listing of jobs
//! ([`listing`]) and an action over a selection ([`action`]). Both stores keep the same columns and
//! states; what differs is how a statement names its parameters and the time, and whether it
//! locks what it picks, which each store says in its [`Dialect`].

use super::{Action, JobQuery, Selection};

/// How a store writes what the shared statements need.
pub(crate) struct Dialect {
    /// The time, in the unit `run_at` is kept in: `?1` (SQLite binds it first), `now()`.
    pub(crate) now: &'static str,
    /// The number of the first parameter after the time's (2 for SQLite, 1 for PostgreSQL).
    pub(crate) first: usize,
    /// The parameter numbered `n`: `?n`, `$n`.
    pub(crate) parameter: fn(usize) -> String,
    /// What follows the subquery that picks an action's jobs: PostgreSQL's `FOR UPDATE SKIP
    /// LOCKED` (rows a worker holds are left for the next batch), nothing for SQLite (one writer).
    pub(crate) lock: &'static str,
}

/// A value a shared statement binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parameter {
    Integer(i64),
    Text(String),
}

/// A statement and the values of its parameters, in order (after the time's, for SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) parameters: Vec<Parameter>,
}

/// A `WHERE` clause being built.
struct Filter<'d> {
    dialect: &'d Dialect,
    conditions: Vec<String>,
    parameters: Vec<Parameter>,
}

impl<'d> Filter<'d> {
    /// The conditions of `selection`.
    fn of(selection: &Selection, dialect: &'d Dialect) -> Filter<'d> {
        let mut filter = Filter {
            dialect,
            conditions: Vec::new(),
            parameters: Vec::new(),
        };
        if let Some(id) = selection.id {
            filter.bind("id = {}", Parameter::Integer(id.0));
        }
        if let Some(state) = selection.state {
            filter.conditions.push(state.condition(dialect.now));
        }
        if let Some(task) = &selection.task {
            filter.bind("task = {}", Parameter::Text(task.clone()));
        }
        filter
    }

    /// Binds `value` as the next parameter; its name.
    fn parameter(&mut self, value: Parameter) -> String {
        self.parameters.push(value);
        (self.dialect.parameter)(self.dialect.first + self.parameters.len() - 1)
    }

    /// Adds `condition`, whose `{}` stands for the next parameter, bound to `value`.
    fn bind(&mut self, condition: &str, value: Parameter) {
        let parameter = self.parameter(value);
        self.conditions.push(condition.replace("{}", &parameter));
    }

    /// `WHERE ..` (or nothing).
    fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// A limit as a parameter.
fn limit(limit: usize) -> Parameter {
    Parameter::Integer(i64::try_from(limit).unwrap_or(i64::MAX))
}

/// The jobs `query` asks for, newest first, as `columns` (see `rows::job_columns`): a walk of an
/// index by id that stops at the page's end.
pub(crate) fn listing(query: &JobQuery, columns: &str, dialect: &Dialect) -> Statement {
    let mut filter = Filter::of(
        &Selection {
            id: None,
            state: query.get_state(),
            task: query.get_task().map(str::to_owned),
        },
        dialect,
    );
    if let Some(before) = query.get_before() {
        filter.bind("id < {}", Parameter::Integer(before.0));
    }
    let limit = filter.parameter(limit(query.get_limit()));
    Statement {
        sql: format!(
            "SELECT {columns} FROM qbwi_jobs {filter} ORDER BY id DESC LIMIT {limit}",
            filter = filter.clause(),
        ),
        parameters: filter.parameters,
    }
}

/// `action` on at most `most` jobs of `selection` it applies to, the oldest first.
pub(crate) fn action(
    action: Action,
    selection: &Selection,
    most: usize,
    dialect: &Dialect,
) -> Statement {
    let now = dialect.now;
    let mut filter = Filter::of(selection, dialect);
    filter.conditions.push(action.applies_to(now));
    let most = filter.parameter(limit(most));
    let chosen = format!(
        "id IN (SELECT id FROM qbwi_jobs {filter} ORDER BY id LIMIT {most} {lock})",
        filter = filter.clause(),
        lock = dialect.lock,
    );
    let sql = match action {
        // A dead or cancelled job gets a fresh set of attempts; a retrying one keeps its count.
        Action::Retry => format!(
            "UPDATE qbwi_jobs
                SET attempts = CASE WHEN state = 'ready' THEN attempts ELSE 0 END,
                    state = 'ready', run_at = {now}, finished_at = NULL
              WHERE {chosen}"
        ),
        Action::Delete => format!("DELETE FROM qbwi_jobs WHERE {chosen}"),
        // A running job is asked to stop (its host cancels it); the others are cancelled now.
        Action::Cancel => format!(
            "UPDATE qbwi_jobs
                SET cancel_requested = (state = 'running'),
                    finished_at = CASE WHEN state = 'running' THEN NULL ELSE {now} END,
                    unique_key = CASE WHEN state = 'running' OR unique_until > {now}
                                      THEN unique_key END,
                    state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END
              WHERE {chosen}"
        ),
    };
    Statement {
        sql,
        parameters: filter.parameters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{JobId, JobState};

    const POSTGRES: Dialect = Dialect {
        now: "now()",
        first: 1,
        parameter: |n| format!("${n}"),
        lock: "FOR UPDATE SKIP LOCKED",
    };

    #[test]
    fn parameters_are_numbered_in_the_order_they_are_bound() {
        let query = JobQuery::new()
            .state(JobState::Ready)
            .task("mail")
            .before(JobId(9))
            .limit(20);
        let listing = listing(&query, "id", &POSTGRES);
        assert_eq!(
            listing.sql,
            "SELECT id FROM qbwi_jobs WHERE state = 'ready' AND run_at <= now() AND task = $1 \
             AND id < $2 ORDER BY id DESC LIMIT $3"
        );
        assert_eq!(
            listing.parameters,
            [
                Parameter::Text("mail".into()),
                Parameter::Integer(9),
                Parameter::Integer(20)
            ]
        );
        let sqlite = Dialect {
            now: "?1",
            first: 2,
            parameter: |n| format!("?{n}"),
            lock: "",
        };
        let selection = Selection {
            id: Some(JobId(4)),
            ..Selection::default()
        };
        let delete = action(Action::Delete, &selection, 1, &sqlite);
        assert!(
            delete.sql.ends_with(
                "WHERE id IN (SELECT id FROM qbwi_jobs WHERE id = ?2 AND state <> 'running' \
                 ORDER BY id LIMIT ?3 )"
            ),
            "{}",
            delete.sql
        );
    }
}
