//! What the error for a durable argument without serde suggests compiles in a crate whose only
//! dependency is qbwi: `qbwi::serde`'s derives with `#[serde(crate = "qbwi::serde")]`.

/// A type of the user's own, stored with the job.
#[derive(qbwi::serde::Serialize, qbwi::serde::Deserialize)]
#[serde(crate = "qbwi::serde")]
struct Attachment {
    name: String,
    bytes: Vec<u8>,
}

#[qbwi::background_task(durable)]
async fn send_mail(email: String, attachment: Attachment) {
    let _ = (email, attachment.name, attachment.bytes);
}

fn stored<T: qbwi::DurableTask>() {}

fn main() {
    stored::<send_mail>();
}
