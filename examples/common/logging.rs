//! Logging for every example: to stdout (colours only on a terminal), filtered by `RUST_LOG` when
//! it is set (`debug`, `info,qbwi=debug`, `warn,web_app=info`, `off`), at `info` otherwise.
//!
//! `RUST_LOG` is read with tracing-subscriber's `Targets` filter (`target=level` directives,
//! comma-separated, a bare level for everything else), which the `std` feature the examples
//! already build provides; `EnvFilter` would add a regex engine to the build for span and field
//! filters the examples do not need.
//!
//! The `web_app` and `durable` examples reach it through `common`; `quickstart` and
//! `cancellation`, which need nothing else of `common`, include this file alone.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How the log lines look.
#[allow(dead_code)] // each example uses one style
pub enum Style {
    /// Wall-clock time and target: a server's log.
    Server,
    /// Time since start, no target, compact: a demo that prints its story.
    Demo,
}

/// Installs the logger, filtered by `RUST_LOG` (unset or empty: `info`). An unreadable
/// `RUST_LOG` is an error that says how to write one; nothing is installed then.
pub fn init(style: Style) -> Result<(), String> {
    let filter = filter_from(std::env::var("RUST_LOG").ok().as_deref())?;
    // A layer on the registry, not `fmt()`'s subscriber, whose own filter stops at `info`.
    let lines = fmt::layer().with_ansi(std::io::stdout().is_terminal());
    let registry = tracing_subscriber::registry().with(filter);
    match style {
        Style::Server => registry.with(lines).init(),
        Style::Demo => registry
            .with(
                lines
                    .with_timer(fmt::time::uptime())
                    .with_target(false)
                    .compact(),
            )
            .init(),
    }
    Ok(())
}

/// The filter `RUST_LOG` asks for: `info` when it is unset or blank.
fn filter_from(rust_log: Option<&str>) -> Result<Targets, String> {
    match rust_log.map(str::trim) {
        None | Some("") => Ok(Targets::new().with_default(LevelFilter::INFO)),
        Some(directives) => directives.parse().map_err(|error| {
            format!(
                "RUST_LOG=`{directives}` is not a log filter ({error}): write a level \
                 (`debug`) or comma-separated `target=level` directives, such as \
                 `info,qbwi=debug`"
            )
        }),
    }
}
