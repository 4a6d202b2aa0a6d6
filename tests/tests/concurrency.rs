//! `max_concurrency` on the host and `concurrency = N` on a task bound how many run at once,
//! without one blocked task type holding up others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use qbwi::{Host, Outcome, background_task};

/// Tracks how many runs of one kind overlap.
struct Overlap {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Overlap {
    const fn new() -> Self {
        Overlap {
            now: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
        }
    }

    async fn run_for(&self, duration: Duration) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(duration).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

static RESIZE: Overlap = Overlap::new();
static ANY: Overlap = Overlap::new();

#[background_task(concurrency = 2)]
async fn resize_image(id: u32) {
    let _ = id;
    RESIZE.run_for(Duration::from_secs(1)).await;
}

#[background_task]
async fn send_mail(id: u32) {
    let _ = id;
    ANY.run_for(Duration::from_millis(10)).await;
}

#[tokio::test(start_paused = true)]
async fn a_task_concurrency_limit_holds_and_lets_other_tasks_pass() {
    let host = Host::builder().build().unwrap();
    let started = tokio::time::Instant::now();
    let images: Vec<_> = (0..6)
        .map(|i| resize_image::queue_on(&host, i).unwrap())
        .collect();
    let mail = send_mail::queue_on(&host, 1).unwrap();

    // The mail is not stuck behind the four waiting images.
    assert_eq!(mail.outcome().await, Outcome::Completed);
    assert!(started.elapsed() < Duration::from_secs(1));
    for image in &images {
        assert_eq!(image.outcome().await, Outcome::Completed);
    }
    assert_eq!(RESIZE.max.load(Ordering::SeqCst), 2);
    // 6 runs of 1 s, 2 at a time.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(host.shutdown().await.completed, 7);
}

static GLOBAL: Overlap = Overlap::new();

#[background_task]
async fn work(id: u32) {
    let _ = id;
    GLOBAL.run_for(Duration::from_millis(100)).await;
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_bounds_the_host_and_starts_in_queue_order() {
    let host = Host::builder().max_concurrency(3).build().unwrap();
    let handles: Vec<_> = (0..9).map(|i| work::queue_on(&host, i).unwrap()).collect();
    tokio::task::yield_now().await;
    let stats = host.stats();
    assert_eq!((stats.running, stats.queued), (3, 6));
    host.wait_idle().await;
    assert_eq!(GLOBAL.max.load(Ordering::SeqCst), 3);
    for handle in handles {
        assert_eq!(handle.outcome().await, Outcome::Completed);
    }
    assert_eq!(host.shutdown().await.completed, 9);
}

static STARTS: std::sync::Mutex<Vec<(&'static str, u32)>> = std::sync::Mutex::new(Vec::new());

#[background_task(concurrency = 1)]
async fn export_pdf(id: u32) {
    STARTS.lock().unwrap().push(("pdf", id));
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[background_task]
async fn notify(id: u32) {
    STARTS.lock().unwrap().push(("notify", id));
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Both limits at once: tasks start in queue order, except that one whose own limit is reached
/// lets later tasks take the free `max_concurrency` slots.
#[tokio::test(start_paused = true)]
async fn host_and_task_limits_together_start_tasks_in_order_without_blocking() {
    let host = Host::builder().max_concurrency(2).build().unwrap();
    for id in 1..=3 {
        export_pdf::queue_on(&host, id).unwrap();
    }
    for id in 1..=3 {
        notify::queue_on(&host, id).unwrap();
    }
    host.wait_idle().await;
    let starts = STARTS.lock().unwrap().clone();
    assert_eq!(
        starts,
        [
            ("pdf", 1),
            ("notify", 1),
            ("notify", 2),
            ("notify", 3),
            ("pdf", 2),
            ("pdf", 3)
        ],
        "pdf 2 and 3 wait for pdf 1 while the notifications use the second slot"
    );
    assert_eq!(host.shutdown().await.completed, 6);
}
