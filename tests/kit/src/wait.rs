//! Bounded waits: a test that waits for something that does not come fails
//! instead of hanging.

use std::time::{Duration, Instant};

/// Polls `f` every `every` until it returns `Some` (that value), or until
/// `within` has passed (`None`).
pub async fn until<T>(
    within: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits (10 s at most, looking every 10 ms) until `condition` holds;
/// panics naming `what` otherwise.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let held = until(Duration::from_secs(10), Duration::from_millis(10), || {
        condition().then_some(())
    })
    .await;
    assert!(held.is_some(), "timed out waiting for {what}");
}
