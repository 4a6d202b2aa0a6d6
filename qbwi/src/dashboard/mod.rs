//! The dashboard: an operator's view of a host and its store, served by the app itself as an
//! [`axum::Router`] to nest anywhere. Secure by default: with no authentication configured it
//! answers loopback peers only; every write is a POST carrying the page's CSRF token; every
//! response carries strict security headers; every string from the store is escaped by the
//! templates (maud).
//!
//! ```no_run
//! # async fn serve(host: qbwi::Host, password: String) -> std::io::Result<()> {
//! use axum::Router;
//!
//! let dashboard = qbwi::dashboard::Dashboard::new(&host)
//!     .basic_auth("admin", &password)
//!     .router();
//! let app = Router::new().nest("/qbwi", dashboard);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
//! # }
//! ```
//!
//! The parts, one idea each: [`access`] (who may see and who may act), [`csrf`] (the token
//! writes carry), [`pages`] (the HTML), [`routes`] (what each URL does, and its JSON twin),
//! [`assets`] (the CSS and the little JS, embedded: no CDN, works offline) and `prometheus`
//! (`GET /metrics`, with feature `prometheus`).

mod access;
mod assets;
mod cache;
mod csrf;
mod pages;
#[cfg(feature = "prometheus")]
mod prometheus;
#[cfg(not(feature = "prometheus"))]
mod prometheus {
    //! Without feature `prometheus`: no `GET /metrics`.

    use super::Settings;

    /// The settings as they are.
    pub(super) fn resolve(settings: Settings) -> Settings {
        settings
    }

    /// No routes.
    pub(super) fn routes() -> axum::Router<std::sync::Arc<Settings>> {
        axum::Router::new()
    }
}
mod routes;

use std::sync::Arc;

use crate::{Host, Store};

pub use access::Access;

/// A time near now as the dashboard (and the `qbwi` command) writes it: `now`, `5s ago`,
/// `in 3m`, `2h ago`, `4d ago`, rounded down to the largest unit.
///
/// ```
/// use std::time::{Duration, SystemTime};
///
/// let minutes_ago = SystemTime::now() - Duration::from_secs(200);
/// assert_eq!(qbwi::dashboard::relative_time(minutes_ago), "3m ago");
/// let tomorrow = SystemTime::now() + Duration::from_secs(86_400 + 60);
/// assert_eq!(qbwi::dashboard::relative_time(tomorrow), "in 1d");
/// ```
pub fn relative_time(at: std::time::SystemTime) -> String {
    let (span, past) = match std::time::SystemTime::now().duration_since(at) {
        Ok(span) => (span, true),
        Err(error) => (error.duration(), false),
    };
    let seconds = span.as_secs();
    let text = match seconds {
        0 => return "now".to_owned(),
        1..=59 => format!("{seconds}s"),
        60..=3_599 => format!("{}m", seconds / 60),
        3_600..=86_399 => format!("{}h", seconds / 3_600),
        _ => format!("{}d", seconds / 86_400),
    };
    if past {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

/// Decides the access of a request from its parts (the app's own login): see
/// [`Dashboard::authorize`].
type Authorize = dyn Fn(&axum::http::request::Parts) -> Access + Send + Sync;

/// The dashboard's settings, shared by its routes.
pub(crate) struct Settings {
    host: Option<Host>,
    store: Option<Store>,
    basic: Option<(String, String)>,
    bearer: Option<String>,
    authorize: Option<Arc<Authorize>>,
    read_only: bool,
    show_arguments: bool,
    counts: cache::Counts,
    /// What `GET /metrics` renders: given, or installed by `router()`.
    #[cfg(feature = "prometheus")]
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// The dashboard of a host (and its store): build it, then mount its [`router`](Self::router).
#[must_use = "a dashboard does nothing until its router is served"]
pub struct Dashboard {
    settings: Settings,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("store", &self.settings.store)
            .field("basic_auth", &self.settings.basic.is_some())
            .field("bearer_token", &self.settings.bearer.is_some())
            .field("authorize", &self.settings.authorize.is_some())
            .field("read_only", &self.settings.read_only)
            .field("show_arguments", &self.settings.show_arguments)
            .finish()
    }
}

impl Dashboard {
    /// The dashboard of `host`: its in-memory counters, and its store's jobs if it has one.
    pub fn new(host: &Host) -> Dashboard {
        let store = host.durable().map(|durable| durable.store().clone());
        Dashboard::with(Some(host.clone()), store)
    }

    /// The dashboard of a store without a host of this process (what `qbwi dashboard` serves).
    pub fn for_store(store: Store) -> Dashboard {
        Dashboard::with(None, Some(store))
    }

    fn with(host: Option<Host>, store: Option<Store>) -> Dashboard {
        Dashboard {
            settings: Settings {
                host,
                store,
                basic: None,
                bearer: None,
                authorize: None,
                read_only: false,
                show_arguments: false,
                counts: cache::Counts::default(),
                #[cfg(feature = "prometheus")]
                prometheus: None,
            },
        }
    }

    /// Answers only requests with HTTP basic authentication as `user` with `password` (compared
    /// in constant time); others get 401.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Dashboard {
        self.settings.basic = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Answers only requests with `Authorization: Bearer <token>` (compared in constant time);
    /// others get 401.
    pub fn bearer_token(mut self, token: &str) -> Dashboard {
        self.settings.bearer = Some(token.to_owned());
        self
    }

    /// Lets the app's own login decide: `decide` gets each request's parts (headers, URI,
    /// extensions such as a session) and says [`Access::Full`], [`Access::ReadOnly`] or
    /// [`Access::Denied`] (answered 401). Checked before basic auth and the bearer token.
    pub fn authorize(
        mut self,
        decide: impl Fn(&axum::http::request::Parts) -> Access + Send + Sync + 'static,
    ) -> Dashboard {
        self.settings.authorize = Some(Arc::new(decide));
        self
    }

    /// Shows everything and changes nothing: no action buttons, and every POST is 403.
    pub fn read_only(mut self, read_only: bool) -> Dashboard {
        self.settings.read_only = read_only;
        self
    }

    /// Shows jobs' arguments on their pages. Off by default: arguments are often personal data.
    pub fn show_arguments(mut self, show: bool) -> Dashboard {
        self.settings.show_arguments = show;
        self
    }

    /// What `GET /metrics` serves (feature `prometheus`): the Prometheus recorder behind
    /// `handle`, which the app installed as the process's recorder (qbwi records into that one),
    /// for instance from [`prometheus_builder`](crate::metrics::prometheus_builder), which has
    /// buckets for qbwi's histograms. Without it, [`router`](Self::router) installs qbwi's own
    /// ([`install_prometheus`](crate::metrics::install_prometheus)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = qbwi::metrics::prometheus_builder().install_recorder()?;
    /// let host = qbwi::Host::builder().build()?;
    /// let dashboard = qbwi::dashboard::Dashboard::new(&host).prometheus(handle).router();
    /// # drop(dashboard);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "prometheus")]
    pub fn prometheus(
        mut self,
        handle: metrics_exporter_prometheus::PrometheusHandle,
    ) -> Dashboard {
        self.settings.prometheus = Some(handle);
        self
    }

    /// The routes, to `nest` under a path of the app (`/qbwi`). Pages link relative to where
    /// they are mounted.
    ///
    /// With feature `prometheus` and no `Dashboard::prometheus` handle, installs qbwi's
    /// Prometheus recorder as the process's global one (once, with
    /// `qbwi::metrics::install_prometheus`), so that `GET /metrics` serves it; if the process
    /// already has another recorder, `GET /metrics` answers 503 and says so.
    pub fn router(self) -> axum::Router {
        routes::router(Arc::new(prometheus::resolve(self.settings)))
    }
}
