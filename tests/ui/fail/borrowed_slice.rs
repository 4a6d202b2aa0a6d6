#[qbwi::background_task]
fn store_upload(bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write("upload.bin", bytes)
}

fn main() {}
