#[qbwi::background_task]
unsafe fn poke(address: usize) {
    let _ = address;
}

fn main() {}
