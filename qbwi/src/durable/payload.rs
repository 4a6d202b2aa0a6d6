//! A durable task's arguments as stored: a JSON object with one member per argument, written and
//! read field by field so that an error names the task and the field.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Why a durable task's arguments could not be written or read back.
///
/// Reading fails when a stored job no longer fits its task (an argument's type changed, or one was
/// added without a default): the job becomes dead at once with this message, and never blocks the
/// queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task `{task}`: {problem}")]
pub struct PayloadError {
    task: &'static str,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    NotAnObject(String),
    Field {
        field: &'static str,
        write: bool,
        error: String,
    },
    Missing(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotAnObject(error) => {
                write!(f, "the stored arguments are not a JSON object: {error}")
            }
            Problem::Field {
                field,
                write: true,
                error,
            } => write!(f, "argument `{field}` cannot be serialized: {error}"),
            Problem::Field {
                field,
                write: false,
                error,
            } => write!(
                f,
                "argument `{field}` cannot be read from the stored job: {error} (did its type \
                 change since the job was queued?)"
            ),
            Problem::Missing(field) => write!(
                f,
                "argument `{field}` is missing from the stored job (was it added since the job was \
                 queued? make it an `Option` to accept old jobs)"
            ),
        }
    }
}

impl PayloadError {
    /// The task whose arguments failed.
    pub fn task(&self) -> &'static str {
        self.task
    }

    /// The argument that failed, if one did.
    pub fn field(&self) -> Option<&'static str> {
        match self.problem {
            Problem::Field { field, .. } | Problem::Missing(field) => Some(field),
            Problem::NotAnObject(_) => None,
        }
    }
}

/// Writes a durable task's arguments; `#[background_task(durable)]` generates the calls.
#[derive(Debug)]
pub struct JobEncoder {
    task: &'static str,
    fields: Map<String, Value>,
}

impl JobEncoder {
    pub(crate) fn new(task: &'static str) -> Self {
        JobEncoder {
            task,
            fields: Map::new(),
        }
    }

    /// Writes one argument.
    pub fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), PayloadError> {
        let value = serde_json::to_value(value).map_err(|error| PayloadError {
            task: self.task,
            problem: Problem::Field {
                field: name,
                write: true,
                error: error.to_string(),
            },
        })?;
        self.fields.insert(name.to_owned(), value);
        Ok(())
    }

    pub(crate) fn finish(self) -> String {
        Value::Object(self.fields).to_string()
    }
}

/// Reads a durable task's arguments back; `#[background_task(durable)]` generates the calls.
#[derive(Debug)]
pub struct JobDecoder {
    task: &'static str,
    fields: Map<String, Value>,
}

impl JobDecoder {
    pub(crate) fn new(task: &'static str, payload: &str) -> Result<Self, PayloadError> {
        let not_an_object = |error: String| PayloadError {
            task,
            problem: Problem::NotAnObject(error),
        };
        match serde_json::from_str(payload) {
            Ok(Value::Object(fields)) => Ok(JobDecoder { task, fields }),
            Ok(other) => Err(not_an_object(format!("found `{other}`"))),
            Err(error) => Err(not_an_object(error.to_string())),
        }
    }

    /// Reads one argument. A missing argument reads as JSON `null`, so an `Option` argument added
    /// after jobs were stored reads as `None`.
    pub fn field<T: DeserializeOwned>(&mut self, name: &'static str) -> Result<T, PayloadError> {
        match self.fields.remove(name) {
            Some(value) => serde_json::from_value(value).map_err(|error| PayloadError {
                task: self.task,
                problem: Problem::Field {
                    field: name,
                    write: false,
                    error: error.to_string(),
                },
            }),
            None => serde_json::from_value(Value::Null).map_err(|_| PayloadError {
                task: self.task,
                problem: Problem::Missing(name),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip_by_name() {
        let mut encoder = JobEncoder::new("t");
        encoder.field("email", "a@example.com").unwrap();
        encoder.field("count", &3u32).unwrap();
        let payload = encoder.finish();
        let mut decoder = JobDecoder::new("t", &payload).unwrap();
        assert_eq!(decoder.field::<u32>("count").unwrap(), 3);
        assert_eq!(decoder.field::<String>("email").unwrap(), "a@example.com");
    }

    #[test]
    fn errors_name_the_task_and_the_field() {
        let mut decoder = JobDecoder::new("app::send_mail", r#"{"email": 5}"#).unwrap();
        let error = decoder.field::<String>("email").unwrap_err();
        assert_eq!(error.field(), Some("email"));
        let message = error.to_string();
        assert!(
            message.starts_with("task `app::send_mail`: argument `email`"),
            "{message}"
        );
        let error = decoder.field::<String>("name").unwrap_err();
        assert!(error.to_string().contains("`name` is missing"), "{error}");
        assert_eq!(decoder.field::<Option<String>>("name").unwrap(), None);

        let error = JobDecoder::new("app::send_mail", "[1]").unwrap_err();
        assert!(error.to_string().contains("not a JSON object"), "{error}");
        assert!(JobDecoder::new("app::send_mail", "{").is_err());
    }
}
