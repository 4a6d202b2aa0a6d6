#[qbwi::background_task]
extern "C" fn callback(code: i32) {
    let _ = code;
}

fn main() {}
