//! `State<T>` arguments, in async, blocking and durable tasks, first, in the middle, last and
//! several at once, beside a token: the host passes them, so they are not fields of the struct,
//! nor parameters of `queue`, `queue_on` or the `enqueue` fns (each call below would not compile
//! otherwise), and the registry lists their types.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use qbwi::{BackgroundTask, CancellationToken, Host, JobId, Outcome, State, background_task};

/// Stands for a mail transport: every run counts what it sent.
struct Mailer {
    sent: AtomicU64,
}

/// Stands for a settings struct.
struct Config {
    sender: &'static str,
}

/// What the runs saw, in any order.
static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(run: String) {
    RUNS.lock().unwrap().push(run);
}

/// Async, the state first.
#[background_task]
async fn state_first(mailer: State<Mailer>, email: String, token: CancellationToken) {
    assert!(!token.is_cancelled());
    mailer.sent.fetch_add(1, Ordering::SeqCst);
    record(format!("first {email}"));
}

/// Async, two states around an argument and the token, one of them by its full path.
#[background_task(timeout = "10s")]
async fn states_around(
    config: qbwi::State<Config>,
    email: String,
    _token: CancellationToken,
    mut mailer: State<Mailer>,
) -> Result<(), String> {
    mailer = mailer.clone();
    mailer.sent.fetch_add(1, Ordering::SeqCst);
    record(format!("around {} {email}", config.sender));
    Ok(())
}

/// Blocking, the state last; and the same state twice.
#[background_task]
fn blocking_last(width: u32, token: CancellationToken, mailer: State<Mailer>, again: State<Mailer>) {
    assert!(!token.is_cancelled());
    assert!(std::ptr::eq(&*mailer, &*again), "one value per type");
    mailer.sent.fetch_add(1, Ordering::SeqCst);
    record(format!("blocking {width}"));
}

/// Only a state, no other argument.
#[background_task]
async fn state_only(_mailer: State<Mailer>) {
    record("only".to_owned());
}

/// Durable: the state is not stored; the host that runs the job passes its own.
#[background_task(durable)]
async fn durable_in_the_middle(
    email: String,
    config: State<Config>,
    token: CancellationToken,
    attempt: u32,
) -> Result<(), String> {
    if token.is_cancelled() {
        return Err("cancelled".to_owned());
    }
    record(format!("durable {} {email} {attempt}", config.sender));
    Ok(())
}

/// Durable and blocking.
#[background_task(durable)]
fn durable_blocking(mailer: State<Mailer>, count: u64) {
    mailer.sent.fetch_add(count, Ordering::SeqCst);
    record(format!("durable blocking {count}"));
}

#[tokio::main]
async fn main() {
    // The structs hold the arguments only: these literals name every field.
    let _ = state_first {
        email: String::new(),
    };
    let _ = states_around {
        email: String::new(),
    };
    let _ = blocking_last { width: 1 };
    let _ = state_only {};
    let _ = durable_in_the_middle {
        email: String::new(),
        attempt: 0,
    };
    let _ = durable_blocking { count: 0 };

    let types = |name: &str| {
        let info = qbwi::registry()
            .find(|task| task.name.ends_with(name))
            .unwrap();
        info.state_types().collect::<Vec<_>>()
    };
    let (config, mailer) = (
        concat!(module_path!(), "::Config"),
        concat!(module_path!(), "::Mailer"),
    );
    assert_eq!(types("::states_around"), [config, mailer]);
    assert_eq!(types("::blocking_last"), [mailer, mailer]);
    assert_eq!(types("::durable_in_the_middle"), [config]);
    assert_eq!(types("::durable_blocking"), [mailer]);

    // The fns stay callable, with states made by hand.
    state_only(State::new(Mailer {
        sent: AtomicU64::new(0),
    }))
    .await;

    let dir = std::env::temp_dir().join(format!("qbwi-ui-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = qbwi::Store::sqlite(dir.join("qbwi.db")).unwrap();
    let host = Host::builder()
        .state(Mailer {
            sent: AtomicU64::new(0),
        })
        .state(Config {
            sender: "welcome@example.com",
        })
        .store(store)
        .poll_interval(Duration::from_millis(10))
        .start()
        .unwrap();

    let handles = [
        state_first::queue("a@example.com".to_owned()).unwrap(),
        states_around::queue_on(&host, "b@example.com".to_owned()).unwrap(),
        blocking_last::queue(640).unwrap(),
        state_only::queue_on(&host).unwrap(),
        host.queue(state_only {}).unwrap(),
    ];
    for handle in handles {
        assert_eq!(handle.outcome().await, Outcome::Completed);
    }
    let _: JobId = durable_in_the_middle::enqueue("c@example.com".to_owned(), 1)
        .await
        .unwrap();
    durable_in_the_middle::enqueue_at(SystemTime::now(), "d@example.com".to_owned(), 2)
        .await
        .unwrap();
    durable_blocking::enqueue_after(Duration::from_millis(1), 10)
        .await
        .unwrap();
    let handle = durable_blocking::queue(100).unwrap();
    assert_eq!(handle.outcome().await, Outcome::Completed); // committed
    host.wait_idle().await;
    host.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);

    let mut runs = RUNS.lock().unwrap().clone();
    runs.sort();
    assert_eq!(
        runs,
        [
            "around welcome@example.com b@example.com",
            "blocking 640",
            "durable blocking 10",
            "durable blocking 100",
            "durable welcome@example.com c@example.com 1",
            "durable welcome@example.com d@example.com 2",
            "first a@example.com",
            "only",
            "only",
            "only",
        ]
    );
    assert_eq!(
        <state_only as BackgroundTask>::NAME,
        concat!(module_path!(), "::state_only")
    );
}
