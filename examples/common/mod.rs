//! What the `web_app` and `durable` examples share: the welcome mail and its transports
//! ([`mail`]), the sign-up request and error answers ([`web`]), and the process around them
//! (environment, logging ([`logging`], which every example uses), signals). Each example includes this module with
//! `#[path = "common/mod.rs"] mod common;`; it is not an example of its own.

pub mod logging;
pub mod mail;
pub mod web;

use std::env;
use std::error::Error;
use std::process::ExitCode;

/// Errors that stop an example from starting or serving, with what to do about them.
pub type AppError = Box<dyn Error + Send + Sync>;

/// Logs to stdout at `info` or as `RUST_LOG` says ([`logging`]), runs `run`, and turns its error
/// into a logged message and a failing exit code.
pub fn main(run: fn() -> Result<(), AppError>) -> ExitCode {
    if let Err(error) = logging::init(logging::Style::Server) {
        eprintln!("{error}");
        return ExitCode::FAILURE;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// An environment variable, `None` when unset or empty, an error when not UTF-8.
pub fn env_var(name: &str) -> Result<Option<String>, AppError> {
    match env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(env::VarError::NotPresent) => Ok(None),
        Err(env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8").into()),
    }
}

/// The port to listen on: `PORT`, or `default` when it is not set.
pub fn port_from_env(default: u16) -> Result<u16, AppError> {
    match env_var("PORT")? {
        Some(port) => port.trim().parse::<u16>().map_err(|error| {
            format!("PORT must be a port number from 0 to 65535, got `{port}`: {error}").into()
        }),
        None => Ok(default),
    }
}

/// Resolves when Ctrl-C (SIGINT) or SIGTERM arrives, with the signal's name.
///
/// Listening starts here, not when the future is first polled, so that a failure to listen is a
/// startup error and a signal that arrives early is not missed.
#[cfg(unix)]
pub fn shutdown_signal() -> Result<impl Future<Output = &'static str> + Send + 'static, AppError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind| {
        signal(kind).map_err(|error| format!("cannot listen for Ctrl-C and SIGTERM: {error}"))
    };
    let mut interrupt = listen(SignalKind::interrupt())?;
    let mut terminate = listen(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "Ctrl-C (SIGINT)",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// Resolves when Ctrl-C arrives.
#[cfg(not(unix))]
pub fn shutdown_signal() -> Result<impl Future<Output = &'static str> + Send + 'static, AppError> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(error) => {
                tracing::error!(%error, "cannot listen for Ctrl-C; stop the process another way");
                std::future::pending().await
            }
        }
    })
}
