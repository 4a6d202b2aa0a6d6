#[derive(Debug)]
struct MailError;

#[qbwi::background_task]
fn send_mail(email: String) -> Result<(), MailError> {
    let _ = email;
    Err(MailError)
}

fn main() {}
