//! Headless Chromium for the dashboard's browser test (`tests/browser.rs`, which includes this
//! file with `#[path]`; the other tests, which have no use for it, do not): chromedriver started on a free port as a child process, and a
//! WebDriver session on a fresh profile, and the [`Page`] helpers that read and act on the
//! dashboard whatever its live refresh does.
//!
//! chromedriver runs in a process group of its own, and the Chromium it starts stays in that
//! group: dropping [`Chromedriver`] kills the whole group, so a failed test leaves no browser
//! behind (killing chromedriver alone would: Chromium outlives it).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thirtyfour::{By, ChromiumLikeCapabilities, DesiredCapabilities, WebDriver};

use crate::support::PATIENCE;

/// The page's viewport, and so the screenshots: small enough for the docs, wide enough for the
/// dashboard's tables.
pub const WINDOW: (u32, u32) = (1100, 750);

/// Chromium's flags: headless, no sandbox (containers and CI run as root), none of the
/// background traffic a browser makes on its own (updates, sync, QUIC probes), no first-run UI.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Debian's `chromium` and `chromedriver` (packages `chromium` and `chromium-driver`), found on
/// the `PATH`.
pub struct Installed {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

impl Installed {
    /// Both programs, or the names of those missing.
    pub fn find() -> Result<Installed, String> {
        let chromium = on_path("chromium");
        let chromedriver = on_path("chromedriver");
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Ok(Installed {
                chromium,
                chromedriver,
            }),
            (chromium, chromedriver) => Err([
                chromium.is_none().then_some("chromium"),
                chromedriver.is_none().then_some("chromedriver"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" and ")),
        }
    }
}

/// The file `name` in a directory of the `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A chromedriver child process, ready for sessions; killed, with the browsers it started, when
/// dropped.
pub struct Chromedriver {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    url: String,
    /// What chromedriver printed.
    log: PathBuf,
}

impl Chromedriver {
    /// Starts `binary` on a free port, logging to `log`, and waits until it says it is ready. A
    /// port taken between finding it and chromedriver binding it is tried again with another.
    pub async fn start(binary: &Path, log: PathBuf) -> Chromedriver {
        for _ in 0..3 {
            let port = free_port();
            let output = File::create(&log).expect("cannot create chromedriver's log");
            let errors = output.try_clone().expect("cannot share chromedriver's log");
            let mut command = Command::new(binary);
            command
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(output)
                .stderr(errors);
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            let child = command
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
            let mut driver = Chromedriver {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
            };
            if driver.ready().await {
                return driver;
            }
        }
        panic!(
            "chromedriver did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Polls `GET /status` until it says `ready`; false if chromedriver exited (its port was
    /// taken), panics if it neither exits nor gets ready within `PATIENCE`.
    async fn ready(&mut self) -> bool {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(response) = client.get(format!("{}/status", self.url)).send().await
                && let Ok(status) = response.json::<serde_json::Value>().await
                && status["value"]["ready"] == true
            {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver is not ready after {PATIENCE:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A session of headless `chromium` on the fresh profile directory `profile`, its viewport
    /// [`WINDOW`].
    pub async fn session(&self, chromium: &Path, profile: &Path) -> WebDriver {
        let mut capabilities = DesiredCapabilities::chrome();
        let (width, height) = WINDOW;
        let chromium = chromium.to_str().expect("a UTF-8 path to chromium");
        capabilities.set_binary(chromium).expect("a binary");
        for flag in FLAGS {
            capabilities.add_arg(flag).expect("a flag");
        }
        capabilities
            .add_arg(&format!("--user-data-dir={}", profile.display()))
            .expect("a flag");
        capabilities
            .add_arg(&format!("--window-size={width},{height}"))
            .expect("a flag");
        let driver = WebDriver::new(self.url.clone(), capabilities)
            .await
            .unwrap_or_else(|error| {
                panic!("cannot start a Chromium session: {error}\n{}", self.log())
            });
        driver
            .set_script_timeout(PATIENCE)
            .await
            .expect("the script timeout");
        // `--window-size` sizes the window, frame included: make the page's viewport WINDOW.
        let frame = driver
            .execute(
                "return [window.outerWidth - window.innerWidth, \
                         window.outerHeight - window.innerHeight]",
                Vec::new(),
            )
            .await
            .expect("the window's frame")
            .convert::<(u32, u32)>()
            .expect("two sizes");
        driver
            .set_window_rect(0, 0, width + frame.0, height + frame.1)
            .await
            .expect("the window's size");
        driver
    }

    /// What chromedriver printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium process it started.
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A page in the session, and what a test does with it: open, wait, read, click, script.
pub struct Page(pub WebDriver);

impl Page {
    /// Opens `url`.
    pub async fn go(&self, url: &str) {
        self.0
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
    }

    /// Waits for the page whose `<main>` starts with the heading `title`.
    pub async fn heading(&self, title: &str) {
        self.until(&format!("the page `{title}`"), || async move {
            (self.text("main h1").await? == title).then_some(())
        })
        .await;
    }

    /// The text of the first element `css` selects, `None` if there is none (yet). Read by one
    /// script, so that the page's refresh cannot replace the element halfway.
    pub async fn text(&self, css: &str) -> Option<String> {
        let text = self
            .0
            .execute(
                "const element = document.querySelector(arguments[0]);
                 return element ? element.innerText : null;",
                vec![json!(css)],
            )
            .await
            .ok()?;
        text.json().as_str().map(str::to_owned)
    }

    /// The texts of every element `css` selects, read as [`text`](Self::text) is.
    pub async fn texts(&self, css: &str) -> Option<Vec<String>> {
        let texts = self
            .0
            .execute(
                "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText);",
                vec![json!(css)],
            )
            .await
            .ok()?;
        texts.convert().ok()
    }

    /// Clicks the element `by` finds, once it is there; again if the page's refresh replaced it
    /// between finding and clicking.
    pub async fn click(&self, by: By, what: &str) {
        self.until(what, || {
            let by = by.clone();
            async move { self.0.find(by).await.ok()?.click().await.ok() }
        })
        .await;
    }

    /// Runs `js` in the page and returns what it returns (a promise's value, once settled).
    pub async fn script(&self, js: &str) -> Value {
        self.0
            .execute(js, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("the script `{js}` failed: {error}"))
            .json()
            .clone()
    }

    /// `fetch(url, init)` from the page (`init` is JavaScript): the status and the body.
    pub async fn fetch(&self, url: &str, init: &str) -> (u64, String) {
        let js = format!(
            "return fetch(arguments[0], {init})
                 .then(response => response.text().then(body => [response.status, body]))"
        );
        let answer = self
            .0
            .execute(&js, vec![json!(url)])
            .await
            .unwrap_or_else(|error| panic!("fetch({url}, {init}) failed: {error}"));
        let answer = answer.json();
        (
            answer[0].as_u64().expect("a status"),
            answer[1].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// Polls `check` every 100 ms until it gives `Some`, for at most `PATIENCE`; panics naming
    /// `what`, with the page's address and text.
    pub async fn until<T, F: Future<Output = Option<T>>>(
        &self,
        what: &str,
        mut check: impl FnMut() -> F,
    ) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if Instant::now() > deadline {
                let url = self.0.current_url().await.map(|url| url.to_string());
                let page = self.text("body").await.unwrap_or_default();
                panic!("no {what} after {PATIENCE:?} at {url:?}:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
