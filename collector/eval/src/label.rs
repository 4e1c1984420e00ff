//! Ground truth both traffic generators write beside each record, so that
//! one evaluation ([`crate::eval`]) judges either.

use observatory_proto::json::CanonicalRecord;

/// What an incident is to the people the scores are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Security: its records should page (behaviour score ≥ 0.85).
    Attack,
    /// A service's health (slow, failing): a `service_health` event for
    /// the affected destinations, never a page on the callers.
    Operational,
    /// A surprise that is neither: should page no one.
    Benign,
}

/// An incident's name and class; the name is the `label` field of the
/// generated JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: &'static str,
    pub class: Class,
}

impl Label {
    pub const fn attack(name: &'static str) -> Self {
        Label {
            name,
            class: Class::Attack,
        }
    }

    pub const fn operational(name: &'static str) -> Self {
        Label {
            name,
            class: Class::Operational,
        }
    }

    pub const fn benign(name: &'static str) -> Self {
        Label {
            name,
            class: Class::Benign,
        }
    }

    pub fn is_attack(self) -> bool {
        self.class == Class::Attack
    }
}

/// A record and its ground truth (`None`: ordinary traffic).
#[derive(Debug, Clone)]
pub struct Labeled {
    pub record: CanonicalRecord,
    pub label: Option<Label>,
}
