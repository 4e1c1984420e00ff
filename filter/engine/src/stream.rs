//! State of one sender's gRPC stream to the collector: when to connect, how
//! long to back off, and whether the stream has failed since the last ack
//! (then it is probed even without traffic). Whether requests are refused
//! in fail-closed mode is not decided here but on how long records have
//! waited (`Outbox::stalled_for`): a refused batch that is being retried
//! is a failed stream, not lost delivery.
//!
//! The glue opens and closes the real stream; this type only decides, so the
//! reconnect and fail-closed logic is tested on the host.

/// A stream that has unacknowledged sends for this long is treated as dead:
/// a collector that stopped reading keeps TCP alive but never acks.
pub const ACK_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Open { token: u32 },
    Backoff { until_ms: u64 },
}

#[derive(Debug)]
pub struct Link {
    state: State,
    min_backoff_ms: u64,
    max_backoff_ms: u64,
    backoff_ms: u64,
    /// False from a failed stream until the next ack.
    healthy: bool,
    /// Since when sends have been waiting for an ack.
    waiting_since_ms: Option<u64>,
    ever_opened: bool,
}

impl Link {
    pub fn new(min_backoff_ms: u64, max_backoff_ms: u64) -> Self {
        Link {
            state: State::Idle,
            min_backoff_ms,
            max_backoff_ms: max_backoff_ms.max(min_backoff_ms),
            backoff_ms: min_backoff_ms,
            healthy: true,
            waiting_since_ms: None,
            ever_opened: false,
        }
    }

    /// Whether the stream has not failed since the last ack.
    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// The open stream's token, if any.
    pub fn token(&self) -> Option<u32> {
        match self.state {
            State::Open { token } => Some(token),
            _ => None,
        }
    }

    /// True when the caller should open a stream now. A stream is opened
    /// lazily when there is something to send, and also while unhealthy so
    /// that recovery is noticed without traffic.
    pub fn should_connect(&mut self, now_ms: u64, have_data: bool) -> bool {
        match self.state {
            State::Open { .. } => false,
            State::Backoff { until_ms } if now_ms < until_ms => false,
            _ => have_data || !self.healthy,
        }
    }

    /// A stream was opened; returns true when it replaces an earlier one
    /// (a reconnect, for the metric).
    pub fn opened(&mut self, token: u32) -> bool {
        self.state = State::Open { token };
        self.waiting_since_ms = None;
        std::mem::replace(&mut self.ever_opened, true)
    }

    /// Opening failed synchronously (e.g. unknown cluster): back off.
    /// `jitter` is any random number; it spreads reconnects of many VMs.
    pub fn open_failed(&mut self, now_ms: u64, jitter: u64) {
        self.fail(now_ms, jitter);
    }

    /// A message was sent on the open stream.
    pub fn sent(&mut self, now_ms: u64) {
        self.waiting_since_ms.get_or_insert(now_ms);
    }

    /// The collector acknowledged: delivery works. `more_in_flight` keeps
    /// the ack timer running for sends not yet acknowledged.
    pub fn acked(&mut self, now_ms: u64, more_in_flight: bool) {
        self.healthy = true;
        self.backoff_ms = self.min_backoff_ms;
        self.waiting_since_ms = more_in_flight.then_some(now_ms);
    }

    /// True when the open stream has waited too long for an ack; the caller
    /// cancels it and reports [`Link::closed`].
    pub fn ack_overdue(&self, now_ms: u64) -> bool {
        matches!(self.state, State::Open { .. })
            && self
                .waiting_since_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= ACK_TIMEOUT_MS)
    }

    /// The stream `token` ended with gRPC `status` (0 = OK). Returns false
    /// for a token that is not the current stream (ignored).
    pub fn closed(&mut self, token: u32, status: u32, now_ms: u64, jitter: u64) -> bool {
        if self.token() != Some(token) {
            return false;
        }
        if status == 0 {
            // A clean end (collector shutting down): reconnect promptly.
            self.state = State::Backoff {
                until_ms: now_ms + self.min_backoff_ms,
            };
            self.waiting_since_ms = None;
        } else {
            self.fail(now_ms, jitter);
        }
        true
    }

    fn fail(&mut self, now_ms: u64, jitter: u64) {
        self.healthy = false;
        self.waiting_since_ms = None;
        // Full delay between half and all of the current backoff.
        let half = self.backoff_ms / 2;
        let delay = half + jitter % (self.backoff_ms - half + 1);
        self.state = State::Backoff {
            until_ms: now_ms + delay,
        };
        self.backoff_ms = (self.backoff_ms.saturating_mul(2)).min(self.max_backoff_ms);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn connects_lazily_only_when_there_is_data() {
        let mut l = Link::new(100, 1000);
        assert!(!l.should_connect(0, false));
        assert!(l.should_connect(0, true));
        assert!(!l.opened(7), "first stream is not a reconnect");
        assert_eq!(l.token(), Some(7));
        assert!(!l.should_connect(1, true), "already open");
    }

    #[test]
    fn failure_backs_off_exponentially_up_to_the_cap_and_marks_unhealthy() {
        let mut l = Link::new(100, 400);
        l.opened(1);
        assert!(l.closed(1, 14, 1_000, 0));
        assert!(!l.healthy());
        // Zero jitter: half of the backoff.
        assert!(!l.should_connect(1_049, true));
        assert!(l.should_connect(1_050, true));
        assert!(l.opened(2), "second stream is a reconnect");
        l.closed(2, 14, 2_000, u64::MAX);
        // Backoff doubled to 200; jitter keeps it within [100, 200].
        assert!(!l.should_connect(2_099, true));
        assert!(l.should_connect(2_200, true));
        l.open_failed(3_000, 0);
        l.open_failed(4_000, 0);
        l.open_failed(5_000, 0);
        // Capped at 400 → at most 400 ms wait, at least 200.
        assert!(!l.should_connect(5_199, true));
        assert!(l.should_connect(5_400, true));
    }

    #[test]
    fn unhealthy_link_probes_without_data_and_recovers_on_ack() {
        let mut l = Link::new(100, 1000);
        l.opened(1);
        l.closed(1, 14, 0, 0);
        assert!(l.should_connect(1_000, false), "probe to notice recovery");
        l.opened(2);
        assert!(!l.healthy(), "open is not proof of delivery");
        l.acked(1_001, false);
        assert!(l.healthy());
        // Backoff reset to the minimum.
        l.closed(2, 14, 2_000, 0);
        assert!(l.should_connect(2_050, true));
    }

    #[test]
    fn clean_close_reconnects_after_the_minimum_without_failing() {
        let mut l = Link::new(100, 1000);
        l.opened(1);
        l.closed(1, 0, 0, 0);
        assert!(l.healthy());
        assert!(!l.should_connect(99, true));
        assert!(l.should_connect(100, true));
    }

    #[test]
    fn stale_close_of_an_old_stream_is_ignored() {
        let mut l = Link::new(100, 1000);
        l.opened(1);
        l.closed(1, 14, 0, 0);
        l.opened(2);
        assert!(!l.closed(1, 14, 10, 0));
        assert_eq!(l.token(), Some(2));
    }

    #[test]
    fn ack_timeout_detects_a_stream_that_never_acks() {
        let mut l = Link::new(100, 1000);
        l.opened(1);
        assert!(!l.ack_overdue(1_000_000), "nothing sent, nothing overdue");
        l.sent(1_000);
        l.sent(5_000);
        assert!(!l.ack_overdue(1_000 + ACK_TIMEOUT_MS - 1));
        assert!(l.ack_overdue(1_000 + ACK_TIMEOUT_MS));
        l.acked(2_000, true);
        assert!(!l.ack_overdue(2_000 + ACK_TIMEOUT_MS - 1));
        l.acked(3_000, false);
        assert!(!l.ack_overdue(u64::MAX));
    }
}
