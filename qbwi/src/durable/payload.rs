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
/// queue. The message names the task, the argument, the type it should have and the kind of value
/// stored (a string, an integer, ..), never the value itself: arguments are often personal data,
/// and this message is logged and kept as the dead job's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task `{task}`: {problem}")]
pub struct PayloadError {
    task: &'static str,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// The stored arguments are not a JSON object: what they are instead (no data).
    NotAnObject(String),
    /// An argument cannot be serialized: serde's error (returned to the caller, never stored).
    Write {
        field: &'static str,
        error: String,
    },
    /// A stored argument does not fit its type.
    Read {
        field: &'static str,
        /// The argument's type (`std::any::type_name`).
        ty: &'static str,
        /// The kind of value stored: "a string", "an integer", ..
        found: &'static str,
        /// What serde said, without the value it quotes: "invalid type, expected u64".
        serde: Option<String>,
    },
    Missing(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotAnObject(what) => {
                write!(f, "the stored arguments are not a JSON object: {what}")
            }
            Problem::Write { field, error } => {
                write!(f, "argument `{field}` cannot be serialized: {error}")
            }
            Problem::Read {
                field,
                ty,
                found,
                serde,
            } => {
                write!(
                    f,
                    "argument `{field}` of type `{ty}` cannot be read from the stored job: it \
                     holds {found}"
                )?;
                if let Some(serde) = serde {
                    write!(f, " (serde: {serde})")?;
                }
                write!(f, "; did its type change since the job was queued?")
            }
            Problem::Missing(field) => write!(
                f,
                "argument `{field}` is missing from the stored job (was it added since the job was \
                 queued? make it an `Option` to accept old jobs)"
            ),
        }
    }
}

impl PayloadError {
    /// `field` of task `task` cannot be written: serde's `error`.
    pub(crate) fn write(task: &'static str, field: &'static str, error: String) -> PayloadError {
        PayloadError {
            task,
            problem: Problem::Write { field, error },
        }
    }

    /// The task whose arguments failed.
    pub fn task(&self) -> &'static str {
        self.task
    }

    /// The argument that failed, if one did.
    pub fn field(&self) -> Option<&'static str> {
        match self.problem {
            Problem::Write { field, .. }
            | Problem::Read { field, .. }
            | Problem::Missing(field) => Some(field),
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
            problem: Problem::Write {
                field: name,
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
        let not_an_object = |what: String| PayloadError {
            task,
            problem: Problem::NotAnObject(what),
        };
        match serde_json::from_str(payload) {
            Ok(Value::Object(fields)) => Ok(JobDecoder { task, fields }),
            Ok(other) => Err(not_an_object(format!("it is {}", kind(&other)))),
            // A syntax error's message says what and where, never quoting the text.
            Err(error) if error.is_syntax() || error.is_eof() => {
                Err(not_an_object(format!("it is not valid JSON ({error})")))
            }
            Err(_) => Err(not_an_object("it is not valid JSON".to_owned())),
        }
    }

    /// Reads one argument. A missing argument reads as JSON `null`, so an `Option` argument added
    /// after jobs were stored reads as `None`.
    pub fn field<T: DeserializeOwned>(&mut self, name: &'static str) -> Result<T, PayloadError> {
        match self.fields.remove(name) {
            Some(value) => {
                let found = kind(&value);
                serde_json::from_value(value).map_err(|error| PayloadError {
                    task: self.task,
                    problem: Problem::Read {
                        field: name,
                        ty: std::any::type_name::<T>(),
                        found,
                        serde: serde_expectation(&error.to_string()),
                    },
                })
            }
            None => serde_json::from_value(Value::Null).map_err(|_| PayloadError {
                task: self.task,
                problem: Problem::Missing(name),
            }),
        }
    }
}

/// What kind of JSON value this is, for messages that must not show it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_f64() => "a number with a fraction or exponent",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The part of serde's error that is safe to keep: its kind and what it expected (both written by
/// serde or by the type). The rest quotes the stored value (`invalid type: string "..", expected
/// u64`), so it is dropped; so is any message that is not one of serde's own shapes (a type's
/// custom error may say anything).
fn serde_expectation(message: &str) -> Option<String> {
    const SHAPES: [&str; 5] = [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant ",
        "unknown field ",
    ];
    let shape = SHAPES
        .iter()
        .find(|shape| message.starts_with(**shape))?
        .trim_end_matches([':', ' ']);
    // A type without variants or fields expects nothing, and serde says so after the value.
    for nothing in ["there are no variants", "there are no fields"] {
        if message.ends_with(nothing) {
            return Some(format!("{shape}, {nothing}"));
        }
    }
    // The value comes first and the expectation last: the last `, expected ` is serde's own.
    let (_, expected) = message.rsplit_once(", expected ")?;
    Some(format!("{shape}, expected {expected}"))
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
        assert_eq!(
            message,
            "task `app::send_mail`: argument `email` of type `alloc::string::String` cannot be \
             read from the stored job: it holds an integer (serde: invalid type, expected a \
             string); did its type change since the job was queued?"
        );
        let error = decoder.field::<String>("name").unwrap_err();
        assert!(error.to_string().contains("`name` is missing"), "{error}");
        assert_eq!(decoder.field::<Option<String>>("name").unwrap(), None);

        let error = JobDecoder::new("app::send_mail", "[1]").unwrap_err();
        assert_eq!(error.field(), None);
        assert_eq!(
            error.to_string(),
            "task `app::send_mail`: the stored arguments are not a JSON object: it is an array"
        );
        let error = JobDecoder::new("app::send_mail", "{").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("not valid JSON (EOF while parsing"),
            "{error}"
        );
    }

    /// Arguments are personal data: an error says what kind of value is stored and what was
    /// expected, never the value (it is logged, and kept as the dead job's error).
    #[test]
    fn errors_never_quote_the_stored_value() {
        const SECRET: &str = "jane.doe@secret.example, expected nothing";
        let payload = serde_json::json!({
            "amount": SECRET,
            "kind": SECRET,
            "count": -1,
            "pair": [SECRET],
            "nothing": SECRET,
        })
        .to_string();
        let mut decoder = JobDecoder::new("app::charge", &payload).unwrap();

        #[derive(Debug, serde::Deserialize)]
        enum Kind {
            #[allow(dead_code)]
            Card,
        }
        #[derive(Debug, serde::Deserialize)]
        enum Never {}

        let messages = [
            decoder.field::<u64>("amount").unwrap_err().to_string(),
            decoder.field::<Kind>("kind").unwrap_err().to_string(),
            decoder.field::<u32>("count").unwrap_err().to_string(),
            decoder
                .field::<(String, String)>("pair")
                .unwrap_err()
                .to_string(),
            decoder.field::<Never>("nothing").unwrap_err().to_string(),
        ];
        for message in &messages {
            assert!(!message.contains("jane.doe"), "{message}");
            assert!(!message.contains("-1"), "{message}");
            assert!(
                message.starts_with("task `app::charge`: argument `"),
                "{message}"
            );
        }
        assert!(
            messages[0].contains("argument `amount` of type `u64`")
                && messages[0].contains("it holds a string")
                && messages[0].contains("expected u64"),
            "{}",
            messages[0]
        );
        assert!(
            messages[1].contains("unknown variant, expected `Card`"),
            "{}",
            messages[1]
        );
        assert!(
            messages[2].contains("it holds an integer (serde: invalid value, expected u32)"),
            "{}",
            messages[2]
        );
        assert!(
            messages[3].contains("it holds an array (serde: invalid length, expected"),
            "{}",
            messages[3]
        );
        assert!(
            messages[4].contains("there are no variants"),
            "{}",
            messages[4]
        );

        for payload in [
            serde_json::json!(SECRET).to_string(),
            format!("[{:?}]", SECRET),
            format!("{{\"email\": {SECRET:?}"),
        ] {
            let error = JobDecoder::new("app::charge", &payload).unwrap_err();
            assert!(!error.to_string().contains("jane.doe"), "{error}");
        }
    }

    #[test]
    fn only_serdes_own_shapes_are_kept() {
        assert_eq!(
            serde_expectation(r#"invalid type: string "a, expected b", expected u64"#).as_deref(),
            Some("invalid type, expected u64")
        );
        assert_eq!(
            serde_expectation("unknown field `x, expected y`, there are no fields").as_deref(),
            Some("unknown field, there are no fields")
        );
        assert_eq!(serde_expectation("bad email a@b.example, expected c"), None);
        assert_eq!(serde_expectation("invalid type: something"), None);
    }
}
