// A blocking task's body runs on tokio's blocking pool: a `State<T>` whose `T` is not `Sync` is
// reported on its type there too.
use std::cell::RefCell;

use qbwi::State;

#[qbwi::background_task]
fn count(label: String, counter: State<RefCell<u8>>) {
    *counter.borrow_mut() += 1;
    let _ = label;
}

fn main() {}
