// A blocking task runs on tokio's blocking pool, another thread: its arguments must be `Send`
// as much as an async task's.
use std::rc::Rc;

#[qbwi::background_task]
fn render(pages: Rc<Vec<String>>, title: String) {
    let _ = (pages, title);
}

fn main() {}
