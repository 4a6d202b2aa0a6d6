use std::rc::Rc;

#[qbwi::background_task]
async fn count(counter: Rc<u8>, label: String) {
    let _ = (counter, label);
}

fn main() {}
