//! The dashboard in a real browser: headless Chromium, driven through chromedriver (WebDriver),
//! does what an operator does. It filters the jobs to the dead ones with the page's form, opens
//! the one whose error is hostile HTML, sees that error as text (and no script of it run), pauses
//! the task on the Tasks page, retries the job, and watches the page refresh itself until the job
//! has completed. From the page's own scripts it checks what the browser is refused: a POST
//! without the page's CSRF token, any write on a read-only mount, and a basic-auth mount without
//! credentials. It saves screenshots of the overview and of the job.
//!
//! Needs Debian's `chromium` and `chromium-driver` (the programs `chromium` and `chromedriver` on
//! the `PATH`). Without them the test says so and passes, unless `QBWI_REQUIRE_BROWSER=1` (as in
//! CI), where it fails. `QBWI_UPDATE_SCREENSHOTS=1` also writes the screenshots to
//! `docs/screenshots/` (the pictures of the dashboard kept in the repository).
//!
//! Every wait polls against a generous bound; nothing depends on how fast the machine is.

#![cfg(unix)] // chromedriver's process group, killed with `kill`

mod support;

#[path = "support/chrome.rs"]
mod chrome;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use qbwi::dashboard::Dashboard;
use qbwi::{
    BackgroundTask, CancellationToken, Host, JobCounts, JobId, JobState, Store, background_task,
};
use thirtyfour::By;
use thirtyfour::components::SelectElement;

use chrome::{Chromedriver, Installed, Page};
use support::{PATIENCE, TempDir};

/// The error the contact import fails with: HTML that would run if the dashboard did not escape
/// it, setting `window.__pwned`.
const HOSTILE: &str = r#"<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"#;

/// While set, [`import_contacts`] fails with [`HOSTILE`]; the test clears it before the retry.
static IMPORT_FAILS: AtomicBool = AtomicBool::new(true);

/// Fails with [`HOSTILE`] while [`IMPORT_FAILS`] is set: dead after its one retry.
#[background_task(durable, retries = 1, retry_delay = "50ms")]
async fn import_contacts(list: u32) -> Result<(), String> {
    let _ = list;
    if IMPORT_FAILS.load(Ordering::SeqCst) {
        Err(HOSTILE.to_owned())
    } else {
        Ok(())
    }
}

/// Completes: the overview's completed jobs and its chart.
#[background_task(durable)]
async fn send_welcome(user: u32) {
    let _ = user;
}

/// Always fails, with no retry: a second dead job, the one the test deletes.
#[background_task(durable, retries = 0)]
async fn sync_to_crm(user: u32) -> Result<(), String> {
    Err(format!(
        "POST /v3/contacts (user {user}): the CRM answered 503 Service Unavailable"
    ))
}

/// Fails, and waits an hour before its next try: a job retrying for the whole test.
#[background_task(durable, retries = 3, retry_delay = "1h")]
async fn charge_card(order: u32) -> Result<(), String> {
    Err(format!(
        "order {order}: the card was declined (insufficient funds)"
    ))
}

/// Runs until the host shuts down: a running job.
#[background_task(durable)]
async fn rebuild_index(shard: u32, ct: CancellationToken) -> Result<(), String> {
    ct.cancelled().await;
    Err(format!("shard {shard}: stopped by the shutdown"))
}

/// Never runs: its task is paused before it is queued, so it stays ready.
#[background_task(durable)]
async fn resize_image(image: u32) {
    let _ = image;
}

/// Queued an hour ahead: scheduled (and one of them cancelled).
#[background_task(durable)]
async fn send_digest(week: u32) {
    let _ = week;
}

/// A durable host on a new SQLite store with a job in every state, one of them dead with the
/// hostile error.
struct Jobs {
    host: Host,
    store: Store,
    /// The dead job with the [`HOSTILE`] error.
    hostile: JobId,
    /// The other dead job.
    crm: JobId,
}

impl Jobs {
    async fn start(dir: &Path) -> Jobs {
        let store = Store::sqlite(dir.join("qbwi.db")).expect("an SQLite store");
        let host = Host::builder()
            .store(store.clone())
            .poll_interval(Duration::from_millis(20))
            .build()
            .expect("a host");
        store
            .pause(<resize_image as BackgroundTask>::NAME)
            .await
            .expect("pause");
        for user in 1..=6 {
            host.enqueue(send_welcome { user }).await.expect("enqueue");
        }
        let crm = host
            .enqueue(sync_to_crm { user: 7 })
            .await
            .expect("enqueue");
        let hostile = host
            .enqueue(import_contacts { list: 42 })
            .await
            .expect("enqueue");
        host.enqueue(charge_card { order: 1042 })
            .await
            .expect("enqueue");
        host.enqueue(rebuild_index { shard: 3 })
            .await
            .expect("enqueue");
        host.enqueue(resize_image { image: 9 })
            .await
            .expect("enqueue");
        let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
        host.enqueue_at(send_digest { week: 23 }, in_an_hour)
            .await
            .expect("enqueue");
        let cancelled = host
            .enqueue_at(send_digest { week: 24 }, in_an_hour)
            .await
            .expect("enqueue");
        store.cancel(cancelled).await.expect("cancel");

        let expected = [
            (JobState::Completed, 6),
            (JobState::Dead, 2),
            (JobState::Retrying, 1),
            (JobState::Running, 1),
            (JobState::Ready, 1),
            (JobState::Scheduled, 1),
            (JobState::Cancelled, 1),
        ];
        let settled = |counts: &JobCounts| {
            expected
                .iter()
                .all(|&(state, count)| counts.get(state) == count)
        };
        // The runs per minute too (the chart's): hosts add them to the store every few seconds.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let counts = store.counts().await.expect("counts");
            let minutes = store.finished_per_minute().await.expect("minutes");
            let charted: u64 = minutes.iter().map(|minute| minute.completed).sum();
            if settled(&counts) && charted >= 6 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the jobs did not settle: {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Jobs {
            host,
            store,
            hostile,
            crm,
        }
    }

    async fn state(&self, id: JobId) -> Option<JobState> {
        let job = self.store.job(id).await.expect("the store answers");
        job.map(|job| job.summary.state)
    }
}

/// Serves three dashboards of `host` on a free port, with the peer's address: full access at
/// `/qbwi` (loopback, no credentials), read-only at `/ro`, basic auth at `/admin`. Its base URL.
async fn serve(host: &Host) -> String {
    let app = Router::new()
        .nest("/qbwi", Dashboard::new(host).router())
        .nest("/ro", Dashboard::new(host).read_only(true).router())
        .nest(
            "/admin",
            Dashboard::new(host).basic_auth("admin", "secret").router(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("the server");
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_retries_a_hostile_dead_job_in_a_real_browser() {
    let Some(installed) = installed_or_skip() else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new("browser");
    let jobs = Jobs::start(dir.path()).await;
    let base = serve(&jobs.host).await;
    let chromedriver =
        Chromedriver::start(&installed.chromedriver, dir.path().join("chromedriver.log")).await;
    let profile = dir.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("a profile directory");
    let browser = Page(chromedriver.session(&installed.chromium, &profile).await);

    browser.overview(&base).await;
    browser.filter_dead_jobs().await;
    browser.open_the_hostile_job(&jobs).await;
    browser.writes_need_the_token(&base, &jobs).await;
    browser.pause_retry_and_watch(&base, &jobs).await;
    browser.read_only(&base, &jobs).await;
    browser.basic_auth(&base).await;

    browser.0.quit().await.expect("the session ends");
    drop(chromedriver);
    jobs.host.shutdown().await;
    println!("the browser test took {:?}", started.elapsed());
}

/// The programs, or `None` (the test is skipped) when they are missing and not required.
fn installed_or_skip() -> Option<Installed> {
    match Installed::find() {
        Ok(installed) => Some(installed),
        Err(missing) => {
            assert!(
                std::env::var("QBWI_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "{missing} not found on the PATH, and QBWI_REQUIRE_BROWSER=1: install them \
                 (Debian: `apt-get install chromium chromium-driver`)"
            );
            eprintln!(
                "skipped: {missing} not found on the PATH; install `chromium chromium-driver` \
                 (Debian) to run the dashboard in a real browser"
            );
            None
        }
    }
}

/// What an operator does on the dashboard, step by step (the page's generic helpers, such as
/// `until`, `click` and `fetch`, are in `support/chrome.rs`).
impl Page {
    /// The overview counts the jobs by state; its screenshot.
    async fn overview(&self, base: &str) {
        self.go(&format!("{base}/qbwi")).await;
        self.heading("Overview").await;
        for (state, count) in [("dead", "2"), ("completed", "6"), ("running", "1")] {
            let card = format!("main a.card[href='/qbwi/jobs?state={state}'] b");
            assert_eq!(self.text(&card).await.as_deref(), Some(count), "{state}");
        }
        self.screenshot("overview").await;
    }

    /// Jobs → the state filter → dead → Filter, as a user would; the listing then has the two
    /// dead jobs only.
    ///
    /// The page refreshes its `<main>` every 3 s; a refresh must not undo a choice made in the
    /// filter form and not yet submitted: the test waits for more than one refresh period with
    /// the choice made (the wait can only miss such a bug, never fail a correct page).
    async fn filter_dead_jobs(&self) {
        self.click(By::LinkText("Jobs"), "the Jobs link").await;
        self.heading("Jobs").await;
        // Again if the page's refresh replaced the select while it was being found.
        self.until("the state filter set to dead", || async move {
            let select = self.0.find(By::Css("form.filters select")).await.ok()?;
            let select = SelectElement::new(&select).await.ok()?;
            select.select_by_value("dead").await.ok()
        })
        .await;
        assert_eq!(
            self.script("return document.activeElement.name").await,
            "state",
            "the select has the focus, as after a user's choice"
        );
        let deadline = Instant::now() + Duration::from_millis(4_500);
        while Instant::now() < deadline {
            let value = self
                .script("return document.querySelector('form.filters select').value")
                .await;
            assert_eq!(
                value, "dead",
                "the page refreshed over the filter being chosen"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.click(
            By::Css("form.filters button[type=submit]"),
            "the Filter button",
        )
        .await;
        self.until("the dead jobs' listing", || async move {
            let url = self.0.current_url().await.ok()?;
            let states = self.texts("main tbody tr td:nth-child(3)").await?;
            (url.query()
                .is_some_and(|query| query.contains("state=dead"))
                && states == ["dead", "dead"])
            .then_some(())
        })
        .await;
    }

    /// Clicks the dead job whose error is the hostile HTML: its page shows the error as text,
    /// and none of it ran.
    async fn open_the_hostile_job(&self, jobs: &Jobs) {
        let link = By::XPath(
            "//main//tbody/tr[td[contains(@class, 'error')][contains(., '<script>')]]/td[1]/a",
        );
        self.click(link, "the hostile job's link").await;
        self.heading(&format!("Job {}", jobs.hostile)).await;
        assert_eq!(self.text("#state").await.as_deref(), Some("dead"));
        assert_eq!(
            self.text("#error").await.as_deref(),
            Some(HOSTILE),
            "the error, as text"
        );
        assert_eq!(
            self.script("return typeof window.__pwned").await,
            "undefined"
        );
        assert_eq!(
            self.script("return document.querySelectorAll('main script, main img').length")
                .await,
            0,
            "no element made of the error"
        );
        self.screenshot("job").await;
    }

    /// From the page's script: a POST without the page's CSRF token is refused (403, and the job
    /// stays dead); with it (from the meta tag), it goes through.
    async fn writes_need_the_token(&self, base: &str, jobs: &Jobs) {
        let retry = format!("{base}/qbwi/jobs/{}/retry", jobs.hostile);
        let (status, body) = self.fetch(&retry, "{method: 'POST'}").await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("CSRF"), "{body}");
        assert_eq!(jobs.state(jobs.hostile).await, Some(JobState::Dead));

        let delete = format!("{base}/qbwi/jobs/{}/delete", jobs.crm);
        let (status, body) = self.fetch(&delete, &with_token("{method: 'POST'}")).await;
        assert_eq!(status, 200, "redirected to the listing: {body}");
        assert_eq!(jobs.state(jobs.crm).await, None, "deleted");
    }

    /// Pauses the task on the Tasks page, clicks Retry on the job's page (the job is then ready,
    /// held by the pause), resumes the task as another operator would, and watches the page,
    /// without reloading it, show the job completed; the store agrees.
    async fn pause_retry_and_watch(&self, base: &str, jobs: &Jobs) {
        let task = <import_contacts as BackgroundTask>::NAME;
        self.click(By::LinkText("Tasks"), "the Tasks link").await;
        self.heading("Tasks").await;
        let row = &format!("//main//tr[td[1][normalize-space() = '{task}']]");
        self.click(
            By::XPath(format!("{row}//button[normalize-space() = 'Pause']")),
            "the task's Pause button",
        )
        .await;
        self.until("the task paused", || async move {
            let buttons = self
                .0
                .find_all(By::XPath(format!("{row}//button")))
                .await
                .ok()?;
            let label = buttons.first()?.text().await.ok()?;
            (label == "Resume").then_some(())
        })
        .await;

        IMPORT_FAILS.store(false, Ordering::SeqCst);
        self.go(&format!("{base}/qbwi/jobs/{}", jobs.hostile)).await;
        self.heading(&format!("Job {}", jobs.hostile)).await;
        self.click(
            By::XPath("//*[@id = 'actions']//button[normalize-space() = 'Retry']"),
            "the Retry button",
        )
        .await;
        self.until("the job ready again", || async move {
            (self.text("#state").await? == "ready").then_some(())
        })
        .await;
        assert_eq!(jobs.state(jobs.hostile).await, Some(JobState::Ready));

        // A mark on this document: a reload would lose it.
        self.script("window.__samePage = true").await;
        jobs.store.resume(task).await.expect("resume");
        self.until("the job completed, on the page", || async move {
            (self.text("#state").await? == "completed").then_some(())
        })
        .await;
        assert_eq!(
            self.script("return window.__samePage === true").await,
            true,
            "refreshed in place"
        );
        assert_eq!(jobs.state(jobs.hostile).await, Some(JobState::Completed));
    }

    /// The read-only mount shows the job without any form or button, and refuses a POST that
    /// carries the page's token.
    async fn read_only(&self, base: &str, jobs: &Jobs) {
        self.go(&format!("{base}/ro/jobs/{}", jobs.hostile)).await;
        self.heading(&format!("Job {}", jobs.hostile)).await;
        assert_eq!(self.text("#state").await.as_deref(), Some("completed"));
        assert_eq!(
            self.script("return document.querySelectorAll('form, button').length")
                .await,
            0
        );
        let retry = format!("{base}/ro/jobs/{}/retry", jobs.hostile);
        let (status, body) = self.fetch(&retry, &with_token("{method: 'POST'}")).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("read-only"), "{body}");

        self.go(&format!("{base}/ro/jobs?state=dead")).await;
        self.heading("Jobs").await;
        // Every action is a POST form; the filter's form is a GET.
        assert_eq!(
            self.script("return document.querySelectorAll('form[method=post]').length")
                .await,
            0,
            "no bulk actions"
        );
    }

    /// The basic-auth mount, fetched from the page (not navigated to: a browser would ask for a
    /// password): 401 without credentials, 200 with them.
    async fn basic_auth(&self, base: &str) {
        let admin = format!("{base}/admin");
        let (status, _) = self.fetch(&admin, "{credentials: 'omit'}").await;
        assert_eq!(status, 401);
        let (status, _) = self
            .fetch(
                &admin,
                "{credentials: 'omit', headers: {authorization: 'Basic ' + btoa('admin:guess')}}",
            )
            .await;
        assert_eq!(status, 401);
        let (status, body) = self
            .fetch(
                &admin,
                "{credentials: 'omit', headers: {authorization: 'Basic ' + btoa('admin:secret')}}",
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<h1>Overview</h1>"), "{body}");
    }

    /// Saves a PNG of the window under the test's temp dir (and, with
    /// `QBWI_UPDATE_SCREENSHOTS=1`, as `docs/screenshots/NAME.png`); prints where.
    async fn screenshot(&self, name: &str) {
        let png = self.0.screenshot_as_png().await.expect("a screenshot");
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dashboard-{name}.png"));
        std::fs::write(&path, &png).expect("the screenshot written");
        println!("screenshot: {} ({} bytes)", path.display(), png.len());
        if std::env::var("QBWI_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the workspace");
            let docs = workspace.join("docs").join("screenshots");
            std::fs::create_dir_all(&docs).expect("docs/screenshots");
            let path = docs.join(format!("{name}.png"));
            std::fs::write(&path, &png).expect("the screenshot written");
            println!("screenshot: {}", path.display());
        }
    }
}

/// `init` (a JavaScript object literal) with the page's CSRF token as the `x-qbwi-csrf` header.
fn with_token(init: &str) -> String {
    let token = "document.querySelector('meta[name=\"qbwi-csrf\"]').content";
    format!("Object.assign({init}, {{headers: {{'x-qbwi-csrf': {token}}}}})")
}
