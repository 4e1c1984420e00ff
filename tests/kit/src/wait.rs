//! Bounded waits: a test that waits for something that does not come fails
//! instead of hanging.

use std::time::Duration;

/// Waits (500 polls, 10 ms apart) until `condition` holds; panics naming
/// `what` otherwise.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
