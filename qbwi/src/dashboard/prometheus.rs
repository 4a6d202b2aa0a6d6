//! `GET /metrics` (feature `prometheus`): what the Prometheus recorder holds, in Prometheus' text
//! format, behind the same access guard as every other page.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Settings;

/// The content type of Prometheus' text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The settings, with qbwi's recorder installed if no handle was given.
pub(super) fn resolve(mut settings: Settings) -> Settings {
    if settings.prometheus.is_none() {
        match crate::metrics::install_prometheus() {
            Ok(handle) => settings.prometheus = Some(handle),
            Err(error) => {
                tracing::warn!(%error, "the dashboard's GET /metrics has nothing to serve")
            }
        }
    }
    settings
}

/// `/metrics`, merged into the dashboard's routes before its guard.
pub(super) fn routes() -> Router<Arc<Settings>> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(settings): State<Arc<Settings>>) -> Response {
    match &settings.prometheus {
        Some(handle) => {
            crate::metrics::flush(); // every run that has ended
            ([(CONTENT_TYPE, TEXT_FORMAT)], handle.render()).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            crate::metrics::InstallError::OtherRecorder.to_string(),
        )
            .into_response(),
    }
}
