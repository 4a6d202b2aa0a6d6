#[qbwi::background_task]
async fn notify(recipients: Vec<&str>, settings: &mut Settings) {
    let _ = (recipients, settings);
}

struct Settings;

fn main() {}
