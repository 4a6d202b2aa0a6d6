// A `State` holds the value the host shares: a borrow inside it is an error on the borrowed type
// that says what to write instead.
use qbwi::State;

struct Mailer;

#[qbwi::background_task]
async fn send_mail(email: String, mailer: State<&Mailer>, names: State<&'static str>) {
    let _ = (email, mailer, names);
}

fn main() {}
