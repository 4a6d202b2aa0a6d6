#[qbwi::background_task]
async fn count_rows(table: String) -> i32 {
    table.len() as i32
}

fn main() {}
