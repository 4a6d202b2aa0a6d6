// Every problem is reported at once, and the fn is still emitted (no error at the call below).
use qbwi::CancellationToken;

#[qbwi::background_task(timeout = "soon", concurrency = 0)]
async unsafe fn import<'a, T>(
    path: &'a str,
    (x, y): (u32, u32),
    token: &CancellationToken,
    item: impl Into<T>,
) {
    let _ = (path, x, y, token, item.into());
}

fn main() {
    let token = CancellationToken::new();
    let _future = unsafe { import::<String>("a.csv", (1, 2), &token, "b") };
}
