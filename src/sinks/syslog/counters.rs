//! What the syslog sinks count for the process's metrics, kept here so a sink reports without
//! knowing the metrics module: `metrics` reads these at scrape time.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Datagrams each UDP syslog sink handed to the kernel since the process started, by sink name.
static UDP_DATAGRAMS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// The UDP sink `sink` handed `n` more datagrams to the kernel.
pub(crate) fn count_udp_datagrams(sink: &str, n: usize) {
    let mut m = UDP_DATAGRAMS.lock().unwrap_or_else(PoisonError::into_inner);
    let c = m.entry(sink.to_owned()).or_default();
    *c = c.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
}

/// Datagrams counted so far for `sink`.
pub fn udp_datagrams(sink: &str) -> u64 {
    UDP_DATAGRAMS.lock().unwrap_or_else(PoisonError::into_inner).get(sink).copied().unwrap_or(0)
}

/// Every UDP sink that sent so far and its count, by name.
pub fn udp_datagram_counts() -> Vec<(String, u64)> {
    UDP_DATAGRAMS.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(k, v)| (k.clone(), *v)).collect()
}
