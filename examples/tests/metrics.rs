//! `GET /metrics` over real HTTP (axum serving the dashboard, reqwest asking): Prometheus' text
//! format, behind the dashboard's access guard, with what a host with a store did: tasks queued
//! and finished by outcome, histograms of durations and waits, the store's jobs by state, and no
//! argument in any label.
//!
//! The dashboard installs qbwi's Prometheus recorder as this process's global one: every test
//! here shares it, so each uses task names of its own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use qbwi::dashboard::Dashboard;
use qbwi::{BackgroundTask, Host, Store, background_task};

/// An argument that must never show in a label.
const SECRET: &str = "grace.hopper@example.com";

/// Completes.
#[background_task]
async fn greet(address: String) {
    let _ = address;
}

/// Fails with its argument in the error.
#[background_task]
async fn bounce(address: String) -> Result<(), String> {
    Err(format!("{address} bounced"))
}

/// Panics with its argument in the message.
#[background_task]
async fn explode(address: String) {
    panic!("cannot parse {address}");
}

/// Completes (the second test's own task).
#[background_task]
async fn wave(address: String) {
    let _ = address;
}

/// Completes; durable.
#[background_task(durable)]
async fn archive(address: String) {
    let _ = address;
}

/// Durable, paused in the store: its jobs stay ready.
#[background_task(durable)]
async fn later(address: String) {
    let _ = address;
}

fn store(name: &str) -> Store {
    let dir = std::env::temp_dir().join(format!("qbwi-metrics-http-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Store::sqlite(dir.join("qbwi.db")).unwrap()
}

/// Serves `dashboard` at `/qbwi` on a free port, with the peer's address; its base URL.
async fn serve(dashboard: Dashboard) -> String {
    let app = Router::new().nest("/qbwi", dashboard.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{address}/qbwi")
}

/// One sample of the text format: its labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of a Prometheus text page (comments left out).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("`key=\"value\"`");
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of `name{labels}` (exactly those labels), if the page has it.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && sample.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(value))
        })
        .map(|sample| sample.value)
}

async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/metrics"))
        .basic_auth("ops", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_as_prometheus_text_behind_the_dashboards_guard() {
    let store = store("served");
    store.pause(later::NAME).await.unwrap();
    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let base = serve(Dashboard::new(&host).basic_auth("ops", "s3cret")).await;
    let client = reqwest::Client::new();

    let refused = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the same guard as every page");
    let wrong = client
        .get(format!("{base}/metrics"))
        .basic_auth("ops", Some("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    for _ in 0..3 {
        greet::queue_on(&host, SECRET.to_owned()).unwrap();
    }
    bounce::queue_on(&host, SECRET.to_owned()).unwrap();
    explode::queue_on(&host, SECRET.to_owned()).unwrap();
    for _ in 0..2 {
        host.enqueue(archive {
            address: SECRET.to_owned(),
        })
        .await
        .unwrap();
        host.enqueue(later {
            address: SECRET.to_owned(),
        })
        .await
        .unwrap();
    }
    host.wait_idle().await;
    // A host reads the store's counts as it starts (then every 15 s).
    let reader = Host::builder().store(store.clone()).build().unwrap();

    let mut text = scrape(&client, &base).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while value(
        &samples(&text),
        "qbwi_jobs",
        &[("task", later::NAME), ("state", "ready")],
    ) != Some(2.0)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no qbwi_jobs: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        text = scrape(&client, &base).await;
    }
    let page = samples(&text);
    let get = |name: &str, labels: &[(&str, &str)]| value(&page, name, labels);

    let queued = |task| get("qbwi_tasks_queued_total", &[("task", task)]);
    assert_eq!(queued(greet::NAME), Some(3.0));
    assert_eq!(queued(bounce::NAME), Some(1.0));
    assert_eq!(
        queued(archive::NAME),
        Some(2.0),
        "durable: counted once stored"
    );
    assert_eq!(queued(later::NAME), Some(2.0));
    let finished = |task, outcome| {
        get(
            "qbwi_tasks_finished_total",
            &[("task", task), ("outcome", outcome)],
        )
    };
    assert_eq!(finished(greet::NAME, "completed"), Some(3.0));
    assert_eq!(finished(bounce::NAME, "failed"), Some(1.0));
    assert_eq!(finished(explode::NAME, "panicked"), Some(1.0));
    assert_eq!(finished(archive::NAME, "completed"), Some(2.0));
    assert_eq!(finished(later::NAME, "completed"), None, "paused: not run");

    // Histograms, not summaries: buckets, a sum and a count per task.
    assert!(
        text.contains("# TYPE qbwi_task_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE qbwi_task_wait_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE qbwi_tasks_finished_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# HELP qbwi_tasks_queued_total "),
        "described: {text}"
    );
    for (task, runs) in [(greet::NAME, 3.0), (archive::NAME, 2.0)] {
        for histogram in ["qbwi_task_duration_seconds", "qbwi_task_wait_seconds"] {
            let count = get(&format!("{histogram}_count"), &[("task", task)]);
            assert_eq!(count, Some(runs), "{histogram} of {task}");
            let all = get(
                &format!("{histogram}_bucket"),
                &[("task", task), ("le", "+Inf")],
            );
            assert_eq!(all, Some(runs), "{histogram} of {task}");
        }
    }
    assert_eq!(
        get("qbwi_jobs", &[("task", later::NAME), ("state", "dead")]),
        Some(0.0)
    );

    let labels: Vec<&String> = page
        .iter()
        .flat_map(|sample| sample.labels.values())
        .collect();
    assert!(
        labels.iter().all(|value| !value.contains("grace")),
        "no argument in a label: {labels:?}"
    );
    assert!(!text.contains("grace"), "nor anywhere: {text}");

    reader.shutdown().await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_given_a_handle_serves_that_recorder() {
    let host = Host::builder().build().unwrap();
    // A recorder of the app's own, not installed: qbwi records into the global one, not this.
    let own = qbwi::metrics::prometheus_builder().build_recorder();
    let dashboard = Dashboard::new(&host)
        .basic_auth("ops", "s3cret")
        .prometheus(own.handle());
    let base = serve(dashboard).await;
    wave::queue_on(&host, SECRET.to_owned()).unwrap();
    host.wait_idle().await;
    let text = scrape(&reqwest::Client::new(), &base).await;
    assert!(!text.contains("qbwi_tasks_queued_total"), "{text}");
    host.shutdown().await;
}
