struct Mailer;

impl Mailer {
    #[qbwi::background_task]
    async fn send(&self, email: String) {
        let _ = email;
    }
}

fn main() {}
