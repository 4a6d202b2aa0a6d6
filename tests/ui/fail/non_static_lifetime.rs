use std::borrow::Cow;

#[qbwi::background_task]
async fn render(title: Cow<'_, str>) {
    let _ = title;
}

fn main() {}
