#[qbwi::background_task]
const fn answer(question: u32) -> Result<u32, String> {
    Ok(question)
}

fn main() {}
