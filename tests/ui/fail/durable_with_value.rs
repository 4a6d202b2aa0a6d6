// `durable` is a flag: a value is an error on the value, and `retries` still counts as durable.
#[qbwi::background_task(durable = true, retries = 2)]
async fn send_mail(email: String) {
    let _ = email;
}

fn main() {}
