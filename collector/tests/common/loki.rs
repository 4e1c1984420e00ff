//! The kit's Loki stand-in with what the collector's tests add to it: a
//! Loki sink config for it, and its stored lines without their chain
//! fields (`seq`, `chain`: the collector's, not Loki's).

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use observatory_collector::sink::loki::config::LokiConfig;
use observatory_testkit::loki::Labels;
pub use observatory_testkit::loki::{LokiLine, Reply};

/// [`observatory_testkit::loki::FakeLoki`], whose methods it has too.
pub struct FakeLoki(observatory_testkit::loki::FakeLoki);

impl Deref for FakeLoki {
    type Target = observatory_testkit::loki::FakeLoki;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for FakeLoki {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl FakeLoki {
    pub async fn start() -> FakeLoki {
        FakeLoki(observatory_testkit::loki::FakeLoki::start().await)
    }

    /// Serves HTTPS with `identity` (a certificate for 127.0.0.1).
    pub async fn start_tls(identity: &rcgen::CertifiedKey<rcgen::KeyPair>) -> FakeLoki {
        FakeLoki(observatory_testkit::loki::FakeLoki::start_tls(identity).await)
    }

    /// A sink config for this Loki with test-sized waits.
    pub fn config(&self) -> LokiConfig {
        LokiConfig {
            url: Some(self.url()),
            batch_max_wait_ms: 5,
            min_backoff_ms: 10.try_into().unwrap(),
            max_backoff_ms: 50.try_into().unwrap(),
            timeout_ms: 5_000.try_into().unwrap(),
            ..LokiConfig::default()
        }
    }

    /// [`observatory_testkit::loki::FakeLoki::stored`], the lines without
    /// their chain fields.
    pub fn stored(&self) -> BTreeMap<Labels, Vec<LokiLine>> {
        let mut stored = self.0.stored();
        for entry in stored.values_mut().flatten() {
            entry.line = super::canonical(&entry.line);
        }
        stored
    }

    /// Every stored line without its chain fields, across streams, in
    /// timestamp order.
    pub fn stored_lines(&self) -> Vec<String> {
        self.0
            .stored_lines()
            .iter()
            .map(|line| super::canonical(line))
            .collect()
    }
}
