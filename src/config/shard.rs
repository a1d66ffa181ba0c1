//! `[shard]`: static tenant sharding, as every self-hosted peer does (no scheduler of our own;
//! Kubernetes runs the shards). With `count = N`, a tenant belongs to the shard where a stable
//! hash of its name modulo N is `index`, unless it names its `shard`. `index = "auto"` reads
//! the shard from the environment: `JOB_COMPLETION_INDEX` (an Indexed Job), else the ordinal
//! that ends the host name (a StatefulSet pod `esign-collector-2`).
//!
//! The hash is the first 8 bytes of SHA-256 of the tenant name, big-endian: it never changes
//! between versions, so a tenant stays on its shard until `count` changes.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ConfigError;
use crate::values::Bounded;

/// `[shard]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// How many shards share the tenants.
    pub count: Bounded<1, 100_000>,
    /// This shard: a number below `count`, or `"auto"`.
    pub index: ShardIndex,
}

/// `[shard] index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "IndexRaw")]
pub enum ShardIndex {
    /// This number.
    Fixed(u32),
    /// From `JOB_COMPLETION_INDEX`, else the host name's trailing ordinal.
    Auto,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IndexRaw {
    Number(u32),
    Word(String),
}

impl TryFrom<IndexRaw> for ShardIndex {
    type Error = String;
    fn try_from(r: IndexRaw) -> Result<Self, String> {
        match r {
            IndexRaw::Number(n) => Ok(ShardIndex::Fixed(n)),
            IndexRaw::Word(w) if w == "auto" => Ok(ShardIndex::Auto),
            IndexRaw::Word(w) => Err(format!("invalid shard index {w:?}: a number, or \"auto\"")),
        }
    }
}

/// The shard a tenant called `name` belongs to among `count`.
pub fn shard_of(name: &str, count: u32) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let n = u64::from_be_bytes(first) % u64::from(count.max(1));
    u32::try_from(n).unwrap_or(0)
}

/// This process's place: its shard index and the shard count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// This shard.
    pub index: u32,
    /// How many there are.
    pub count: u32,
}

impl Place {
    /// Whether this shard collects the tenant `name` (`explicit`: the tenant's own `shard`).
    pub fn owns(self, name: &str, explicit: Option<u32>) -> bool {
        explicit.unwrap_or_else(|| shard_of(name, self.count)) == self.index
    }
}

impl ShardConfig {
    /// Checks what the file alone can tell.
    ///
    /// # Errors
    /// `ConfigError::Invalid` for an index not below `count`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let ShardIndex::Fixed(i) = self.index
            && i >= self.count.get()
        {
            return Err(ConfigError::invalid(
                "shard.index",
                format!("is {i}, but shards are numbered 0 to {} (count = {})", self.count.get() - 1, self.count.get()),
            ));
        }
        Ok(())
    }

    /// This process's place, reading the environment for `"auto"`.
    ///
    /// # Errors
    /// `ConfigError::Invalid` when `"auto"` finds no index, or one not below `count`.
    pub fn place(&self) -> Result<Place, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        self.place_from(env("JOB_COMPLETION_INDEX").as_deref(), env("HOSTNAME").or_else(hostname).as_deref())
    }

    fn place_from(&self, job: Option<&str>, host: Option<&str>) -> Result<Place, ConfigError> {
        let count = self.count.get();
        let index = match self.index {
            ShardIndex::Fixed(i) => i,
            ShardIndex::Auto => {
                let from_job = job.map(str::trim).filter(|j| !j.is_empty());
                let found = match from_job {
                    Some(j) => j.parse::<u32>().ok(),
                    None => host.and_then(|h| h.trim().rsplit_once('-')).and_then(|(_, n)| n.parse().ok()),
                };
                found.ok_or_else(|| {
                    ConfigError::invalid(
                        "shard.index",
                        format!(
                            "is \"auto\", but neither JOB_COMPLETION_INDEX (an Indexed Job) nor a host name ending in -N (a StatefulSet pod) gives one (host name: {:?})",
                            host.unwrap_or_default()
                        ),
                    )
                })?
            }
        };
        if index >= count {
            return Err(ConfigError::invalid(
                "shard.index",
                format!("resolves to {index}, but shards are numbered 0 to {} (count = {count})", count - 1),
            ));
        }
        Ok(Place { index, count })
    }
}

/// The kernel's host name, when `HOSTNAME` is not exported (a shell variable, often).
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(count: u32, index: ShardIndex) -> ShardConfig {
        let text = match index {
            ShardIndex::Fixed(i) => format!("count = {count}\nindex = {i}"),
            ShardIndex::Auto => format!("count = {count}\nindex = \"auto\""),
        };
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn the_hash_is_stable_and_spreads_tenants() {
        // Fixed values: a change here moves tenants between shards.
        assert_eq!(shard_of("acme", 4), shard_of("acme", 4));
        let mut per = [0u32; 4];
        for i in 0..1000 {
            per[shard_of(&format!("tenant-{i}"), 4) as usize] += 1;
        }
        assert!(per.iter().all(|&n| (200..300).contains(&n)), "{per:?}");
        assert_eq!(shard_of("x", 1), 0);
    }

    #[test]
    fn auto_reads_the_job_index_then_the_pod_ordinal() {
        let c = cfg(3, ShardIndex::Auto);
        assert_eq!(c.place_from(Some("2"), Some("pod-0")).unwrap().index, 2);
        assert_eq!(c.place_from(None, Some("esign-collector-1")).unwrap().index, 1);
        let e = c.place_from(None, Some("laptop")).unwrap_err().to_string();
        assert!(e.contains("JOB_COMPLETION_INDEX") && e.contains("laptop"), "{e}");
        let e = c.place_from(None, Some("esign-collector-7")).unwrap_err().to_string();
        assert!(e.contains("resolves to 7"), "{e}");
        assert!(cfg(2, ShardIndex::Fixed(2)).validate().is_err());
        assert!(toml::from_str::<ShardConfig>("count = 2\nindex = \"first\"").is_err());
    }

    #[test]
    fn an_explicit_shard_wins() {
        let p = Place { index: 1, count: 3 };
        assert!(p.owns("anything", Some(1)));
        assert!(!p.owns("anything", Some(0)));
        let natural = shard_of("acme", 3);
        assert_eq!(p.owns("acme", None), natural == 1);
    }
}
