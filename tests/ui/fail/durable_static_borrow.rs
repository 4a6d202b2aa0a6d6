// A durable task's arguments are read back from the store into new values, so even a `'static`
// borrow (fine for an in-memory task) is an error that names the owned type to take.
#[qbwi::background_task(durable)]
async fn send_mail(email: &'static str, tags: Vec<&'static str>) {
    let _ = (email, tags);
}

fn main() {}
