// A durable task's arguments are stored, so serde must write and read each one: an argument of a
// type without `Serialize` and `Deserialize` is an error on that type.
struct Attachment {
    bytes: Vec<u8>,
}

#[qbwi::background_task(durable)]
async fn send_mail(email: String, attachment: Attachment) {
    let _ = (email, attachment.bytes);
}

fn main() {}
