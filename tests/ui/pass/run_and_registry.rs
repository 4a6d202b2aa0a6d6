//! Tasks of both shapes queued on a host and awaited; the registry lists them.

use qbwi::{CancellationToken, Host, Outcome, background_task};

#[derive(Debug)]
struct MailError(&'static str);

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Sends the welcome mail.
#[background_task]
async fn send_mail(email: String, ct: CancellationToken) -> Result<(), MailError> {
    if ct.is_cancelled() {
        return Err(MailError("cancelled"));
    }
    if email.contains('@') {
        Ok(())
    } else {
        Err(MailError("not an address"))
    }
}

#[background_task]
fn resize(width: u32, height: u32) -> std::io::Result<()> {
    assert!(width > 0 && height > 0);
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host = Host::builder().build().unwrap();

        let sent = send_mail::queue_on(&host, "a@example.com".to_owned()).unwrap();
        assert_eq!(sent.outcome().await, Outcome::Completed);
        let bounced = send_mail::queue_on(&host, "nobody".to_owned()).unwrap();
        assert_eq!(
            bounced.outcome().await,
            Outcome::Failed("not an address".to_owned())
        );
        let resized = resize::queue_on(&host, 640, 480).unwrap();
        assert_eq!(resized.outcome().await, Outcome::Completed);
        assert_eq!(resized.name(), concat!(module_path!(), "::resize"));

        let report = host.shutdown().await;
        assert_eq!((report.completed, report.failed), (2, 1));
    });

    let mut tasks: Vec<_> = qbwi::registry()
        .map(|task| (task.name, task.blocking))
        .collect();
    tasks.sort();
    assert_eq!(
        tasks,
        [
            (concat!(module_path!(), "::resize"), true),
            (concat!(module_path!(), "::send_mail"), false),
        ]
    );
    let info = qbwi::registry()
        .find(|task| task.name.ends_with("::resize"))
        .unwrap();
    assert_eq!(info.module_path, module_path!());
    assert!(info.file.ends_with("run_and_registry.rs"), "{}", info.file);

    // The fn is still there, unchanged.
    let direct = std::thread::spawn(|| resize(1, 1)).join().unwrap();
    assert!(direct.is_ok());
}
