//! `qbwi::registry()` lists every `#[background_task]` in the binary, without registration code.

use qbwi::{CancellationToken, background_task};

mod mail {
    #[qbwi::background_task]
    pub async fn send_welcome(email: String) {
        let _ = email;
    }
}

#[background_task(name = "images.resize", timeout = "30s", concurrency = 4)]
fn resize(width: u32, ct: CancellationToken) {
    let _ = (width, ct);
}

#[test]
fn registry_lists_every_task_with_its_place() {
    let welcome = qbwi::registry()
        .find(|task| task.name == "registry::mail::send_welcome")
        .expect("the async task is registered under its module path");
    assert_eq!(welcome.module_path, "registry::mail");
    assert!(welcome.file.ends_with("registry.rs"), "{}", welcome.file);
    assert!(!welcome.blocking);

    let resize = qbwi::registry()
        .find(|task| task.name == "images.resize")
        .expect("renamed task");
    assert!(resize.blocking);
    assert_eq!(resize.module_path, "registry");
    assert!(resize.line > welcome.line);
    assert_eq!(
        resize.options().timeout,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(resize.options().concurrency.map(|n| n.get()), Some(4));
    assert_eq!(resize.options(), <resize as qbwi::BackgroundTask>::OPTIONS);
    assert_eq!(welcome.options(), qbwi::TaskOptions::new());

    assert_eq!(qbwi::registry().count(), 2);
    assert_eq!(<resize as qbwi::BackgroundTask>::NAME, "images.resize");
}
