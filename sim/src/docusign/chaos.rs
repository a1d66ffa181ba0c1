//! Random faults on a share of every route's replies, as an unreliable DocuSign and network
//! would give them: 429s whose `Retry-After` is the server's word (with the burst budget
//! reported spent, as DocuSign's burst refusals are), 5xx, and 200s with a truncated body.
//! Seeded, so a failing run can be replayed. Queued faults ([`super::Fault`]) come first.

use serde::{Deserialize, Serialize};

use super::FaultKind;

/// Shares of replies (in percent, together at most 100) that go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chaos {
    /// Replies answered 429 with `Retry-After` and `X-BurstLimit-Remaining: 0`.
    #[serde(default)]
    pub throttle_percent: u8,
    /// `Retry-After` seconds of those 429s (default 1).
    #[serde(default = "one")]
    pub retry_after: u64,
    /// Replies answered 503.
    #[serde(default)]
    pub server_error_percent: u8,
    /// Replies answered 200 with half their body.
    #[serde(default)]
    pub truncated_percent: u8,
    /// Seed of the draws.
    #[serde(default)]
    pub seed: u64,
}

fn one() -> u64 {
    1
}

/// The draws of one chaos setting.
#[derive(Debug, Clone)]
pub(super) struct Dice {
    chaos: Chaos,
    state: u64,
}

impl Dice {
    pub(super) fn new(chaos: Chaos) -> Self {
        // splitmix64's increment keeps a zero seed from sticking at zero.
        Self { chaos, state: chaos.seed ^ 0x9E37_79B9_7F4A_7C15 }
    }

    /// splitmix64: small, fast and good enough to spread faults evenly.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The fault this reply gets, if any.
    pub(super) fn roll(&mut self) -> Option<FaultKind> {
        let chaos = self.chaos;
        let draw = self.next() % 100;
        let throttle = u64::from(chaos.throttle_percent);
        let errors = throttle + u64::from(chaos.server_error_percent);
        let truncated = errors + u64::from(chaos.truncated_percent);
        if draw < throttle {
            Some(FaultKind::Throttle { retry_after: chaos.retry_after })
        } else if draw < errors {
            Some(FaultKind::Status { code: 503, retry_after: None })
        } else if draw < truncated {
            Some(FaultKind::Truncated)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_close_to_what_was_asked() {
        let chaos =
            Chaos { throttle_percent: 20, retry_after: 1, server_error_percent: 5, truncated_percent: 5, seed: 7 };
        let mut d = Dice::new(chaos);
        let draws: Vec<_> = (0..10_000).map(|_| d.roll()).collect();
        let count = |f: fn(&Option<FaultKind>) -> bool| draws.iter().filter(|x| f(x)).count();
        let throttled = count(|x| matches!(x, Some(FaultKind::Throttle { .. })));
        let errors = count(|x| matches!(x, Some(FaultKind::Status { .. })));
        assert!((1800..2200).contains(&throttled), "{throttled}");
        assert!((350..650).contains(&errors), "{errors}");
    }
}
