// The host shares one state between runs on many threads: a `State<T>` whose `T` is not
// `Send + Sync` is an error on `T` that says so (and the future that holds it is not `Send`).
use std::cell::Cell;

use qbwi::State;

#[qbwi::background_task]
async fn count(label: String, counter: State<Cell<u8>>) {
    counter.set(counter.get() + 1);
    let _ = label;
}

fn main() {}
