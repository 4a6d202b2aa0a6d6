// Any `State<T>` argument is taken for `qbwi::State`: another crate's `State` (here a stand-in
// for `axum::extract::State`) is an error on the type that says how to tell them apart.
mod axum {
    pub mod extract {
        pub struct State<T>(pub T);
    }
}

use axum::extract::State;

#[qbwi::background_task]
async fn send_mail(email: String, config: State<u32>) {
    let _ = (email, config.0);
}

fn main() {}
