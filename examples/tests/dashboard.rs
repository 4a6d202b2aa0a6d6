//! The dashboard over real HTTP (axum serving it, reqwest asking): who it answers, the security
//! headers, the CSRF token writes need, read-only access, and store strings shown as text.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use qbwi::dashboard::Dashboard;
use qbwi::{Host, JobState, Store, background_task};

/// The error a hostile job fails with: HTML that would run if it were not escaped.
const HOSTILE: &str = "<script>window.pwned=1</script><img src=x onerror=alert(2)>";

/// Fails with [`HOSTILE`]: dead after one run.
#[background_task(durable, retries = 0)]
async fn hostile(n: u32) -> Result<(), String> {
    let _ = n;
    Err(HOSTILE.to_owned())
}

/// The new year's report, at midnight in Paris: a schedule the tasks page shows (it fires once a
/// year, so never while a test runs but on that minute).
#[background_task(durable, cron = "0 0 1 1 *", timezone = "Europe/Paris")]
async fn new_year_report() {}

/// A host on a new SQLite file whose one job died with the hostile error; its store, and the job's
/// id.
async fn host_with_a_dead_job(name: &str) -> (Host, Store, qbwi::JobId) {
    let dir = std::env::temp_dir().join(format!("qbwi-dashboard-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::sqlite(dir.join("qbwi.db")).unwrap();
    let host = Host::builder()
        .store(store.clone())
        .poll_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let id = host.enqueue(hostile { n: 1 }).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.counts().await.unwrap().dead == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the job never died");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // No more runs: the retry below must stay ready for the test to see.
    store
        .pause(<hostile as qbwi::BackgroundTask>::NAME)
        .await
        .unwrap();
    (host, store, id)
}

/// Serves `dashboard` at `/qbwi` on a free port, with (or without) the peer's address; its base
/// URL.
async fn serve(dashboard: Dashboard, connect_info: bool) -> String {
    let app = Router::new().nest("/qbwi", dashboard.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if connect_info {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        } else {
            axum::serve(listener, app).await.unwrap();
        }
    });
    format!("http://{address}/qbwi")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF cookie a page set, and the token in its meta tag.
fn csrf_of(response_headers: &reqwest::header::HeaderMap, page: &str) -> (String, String) {
    let cookie = response_headers
        .get("set-cookie")
        .expect("the page sets the CSRF cookie")
        .to_str()
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let meta = page
        .split("<meta name=\"qbwi-csrf\" content=\"")
        .nth(1)
        .expect("the page carries the token")
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (cookie, meta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_escape_the_store_and_writes_need_the_pages_token() {
    let (host, store, id) = host_with_a_dead_job("writes").await;
    let base = serve(Dashboard::new(&host), true).await;
    let client = client();

    let overview = client.get(base.clone()).send().await.unwrap();
    assert_eq!(overview.status(), 200);
    let headers = overview.headers().clone();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(headers.get(name).unwrap(), value, "{name}");
    }
    assert!(
        headers
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("default-src 'self'")
    );
    let page = overview.text().await.unwrap();
    let (cookie, token) = csrf_of(&headers, &page);
    assert_eq!(cookie, format!("qbwi_csrf={token}"));
    assert!(
        page.contains("href=\"/qbwi/jobs?state=dead\""),
        "links under the mount point"
    );

    let job = client
        .get(format!("{base}/jobs/{id}"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!job.contains("<script>window.pwned"), "{job}");
    assert!(!job.contains("<img src=x"), "{job}");
    assert!(
        job.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"),
        "{job}"
    );
    assert!(
        job.contains("hidden (Dashboard::show_arguments)"),
        "arguments hidden by default"
    );
    assert!(job.contains("Retry"));

    let retry = format!("{base}/jobs/{id}/retry");
    let without = client
        .post(&retry)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 403, "no token");
    let wrong = client
        .post(&retry)
        .header("cookie", &cookie)
        .header("x-qbwi-csrf", "0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403, "another token");
    let no_cookie = client
        .post(&retry)
        .header("x-qbwi-csrf", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 403, "the token without its cookie");
    assert_eq!(state_of(&store, id).await, JobState::Dead);

    let form = client
        .post(&retry)
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 303);
    assert_eq!(
        form.headers().get("location").unwrap(),
        &format!("/qbwi/jobs/{id}")
    );
    assert_eq!(state_of(&store, id).await, JobState::Ready);

    let api = client
        .get(format!("{base}/api/jobs/{id}"))
        .send()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&api.text().await.unwrap()).unwrap();
    assert_eq!(json["state"], "ready");
    assert!(
        json.get("arguments").is_none(),
        "arguments hidden in JSON too"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_access_shows_no_buttons_and_refuses_writes() {
    let (host, _, id) = host_with_a_dead_job("read-only").await;
    let base = serve(Dashboard::new(&host).read_only(true), true).await;
    let client = client();
    let response = client
        .get(format!("{base}/jobs/{id}"))
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    let page = response.text().await.unwrap();
    assert!(!page.contains("<button"), "{page}");
    let (cookie, token) = csrf_of(&headers, &page);
    let write = client
        .post(format!("{base}/jobs/{id}/retry"))
        .header("cookie", cookie)
        .header("x-qbwi-csrf", token)
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 403);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_asked_for_and_a_peer_unknown_is_refused() {
    let (host, _, _) = host_with_a_dead_job("auth").await;
    let client = client();
    let basic = serve(Dashboard::new(&host).basic_auth("admin", "s3cret"), false).await;
    let refused = client.get(basic.clone()).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("www-authenticate").is_some());
    let wrong = client
        .get(basic.clone())
        .basic_auth("admin", Some("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let allowed = client
        .get(basic.clone())
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);

    let bearer = serve(Dashboard::new(&host).bearer_token("t0ken"), false).await;
    assert_eq!(
        client.get(bearer.clone()).send().await.unwrap().status(),
        401
    );
    let allowed = client
        .get(bearer.clone())
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);

    // No auth and no ConnectInfo: it cannot tell loopback from the world.
    let unknown = serve(Dashboard::new(&host), false).await;
    let refused = client.get(unknown.clone()).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let why = refused.text().await.unwrap();
    assert!(why.contains("into_make_service_with_connect_info"), "{why}");
    host.shutdown().await;
}

async fn state_of(store: &Store, id: qbwi::JobId) -> JobState {
    store.job(id).await.unwrap().unwrap().summary.state
}

/// The JSON twins of the tasks and nodes pages: the registry with pause state and counts, and the
/// host that registered itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_tasks_with_their_jobs_and_the_nodes() {
    let (host, _store, _id) = host_with_a_dead_job("api").await;
    let base = serve(Dashboard::new(&host), true).await;
    let client = client();
    let get = |path: &str| {
        let request = client.get(format!("{base}{path}"));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            serde_json::from_str::<serde_json::Value>(&response.text().await.unwrap()).unwrap()
        }
    };

    let tasks = get("/api/tasks").await;
    let listed = |name: &str| {
        tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|task| task["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed: {tasks}"))
            .clone()
    };
    let task = listed(<hostile as qbwi::BackgroundTask>::NAME);
    assert_eq!(task["durable"], true);
    assert_eq!(task["paused"], true, "the setup paused it");
    assert_eq!(task["jobs"]["dead"], 1);
    assert_eq!(task["jobs"]["ready"], 0);
    assert_eq!(task["retries"], 0);
    assert_eq!(task["options"], "no retries");
    assert!(task["file"].as_str().unwrap().ends_with("dashboard.rs"));
    // A schedule: its expression and zone, its next tick (the coming 1 January, Paris time), and
    // no last tick, since none fired.
    let task = listed(<new_year_report as qbwi::BackgroundTask>::NAME);
    assert_eq!(task["schedule"]["expression"], "0 0 1 1 *");
    assert_eq!(task["schedule"]["timezone"], "Europe/Paris");
    assert!(task["schedule"]["last_tick_ms"].is_null(), "{task}");
    let next = task["schedule"]["next_tick_ms"]
        .as_i64()
        .expect("a next tick");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        next > now && next - now <= 366 * 24 * 3_600_000,
        "{next} vs {now}"
    );
    // New year in Paris is 23:00 or 22:00 UTC on 31 December: a whole hour.
    assert_eq!(next % 3_600_000, 0, "{next}");
    // The page says it too.
    let page = client
        .get(format!("{base}/tasks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<code>0 0 1 1 *</code> Europe/Paris"),
        "{page}"
    );
    assert!(page.contains("next tick in "), "{page}");

    let overview = get("/api/overview").await;
    assert_eq!(overview["jobs"]["dead"], 1);
    let minutes = overview["per_minute"].as_array().unwrap();
    assert_eq!(minutes.len(), 60, "an hour of minutes");

    // The host reports itself once it started; give it a generous while.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let nodes = loop {
        let nodes = get("/api/nodes").await;
        if !nodes.as_array().unwrap().is_empty() {
            break nodes;
        }
        assert!(tokio::time::Instant::now() < deadline, "no node reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let node = &nodes[0];
    assert_eq!(node["pid"], std::process::id());
    assert!(
        node["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|task| task == <hostile as qbwi::BackgroundTask>::NAME),
        "{node}"
    );
    host.shutdown().await;
}
