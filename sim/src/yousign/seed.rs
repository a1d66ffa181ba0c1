//! Deterministic randomness for the Yousign simulator: UUIDs and a small PRNG derived from the
//! seed, so every generated id, name and lifecycle is reproducible.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// SHA-256 of the seed, a label and some numbers.
fn digest(seed: u64, label: &str, parts: &[u64]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.to_be_bytes());
    h.update(label.as_bytes());
    for p in parts {
        h.update(p.to_be_bytes());
    }
    h.finalize().into()
}

/// A UUID (v4 layout) derived from the inputs, stable for a given seed.
pub(super) fn uuid(seed: u64, label: &str, parts: &[u64]) -> String {
    let d = digest(seed, label, parts);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Lowercase hex of a digest of the inputs: document hashes and secrets.
pub(super) fn hex(seed: u64, label: &str, parts: &[u64]) -> String {
    to_hex(&digest(seed, label, parts))
}

/// Lowercase hex of `bytes`.
pub(super) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        // Writing to a String cannot fail.
        write!(s, "{b:02x}").ok();
        s
    })
}

/// A `SplitMix64` generator: cheap, deterministic choices.
#[derive(Debug, Clone)]
pub(super) struct Prng(u64);

impl Prng {
    pub(super) fn new(seed: u64, label: &str, parts: &[u64]) -> Self {
        let d = digest(seed, label, parts);
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        Self(u64::from_be_bytes(b))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `percent`/100.
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One entry of a non-empty constant table (the empty string for an empty one).
    pub(super) fn pick(&mut self, items: &[&'static str]) -> &'static str {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items.get(i).copied().unwrap_or_default()
    }
}
