//! The demo environment: the built-in simulator started in-process on a random loopback port
//! with a freshly generated key pair, so the whole real path runs (JWT signed and verified,
//! HTTP, cursors, SQLite) without a DocuSign account.

use std::time::Duration;

use esign_sim::docusign::{EventFeed, SimConfig, Simulator};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracing::info;

use crate::auth::PrivateKey;
use crate::config::Config;
use crate::error::Error;

/// A running in-process simulator; it stops when dropped.
#[derive(Debug)]
pub struct Demo {
    /// The simulator's handle.
    pub simulator: Simulator,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The identities the simulator accepts (the configured ones where given).
    pub ids: Ids,
    _stop: oneshot::Sender<()>,
}

/// Integration key, user, account and organization the simulator answers for.
#[derive(Debug, Clone)]
pub struct Ids {
    /// Integration key.
    pub integration_key: String,
    /// Impersonated user.
    pub user_id: String,
    /// Account.
    pub account_id: String,
    /// Organization.
    pub organization_id: String,
}

/// Generates an RSA key pair for the demo.
///
/// # Errors
/// `Error::Internal` when generation fails.
pub fn generate_key() -> Result<(rsa::RsaPrivateKey, PrivateKey), Error> {
    let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
        .map_err(|e| Error::Internal(format!("RSA key generation: {e}")))?;
    let key = PrivateKey::from_rsa(&rsa).map_err(Error::Internal)?;
    Ok((rsa, key))
}

/// The simulator's settings for `cfg`: the configured ids where given, else the simulator's.
pub fn sim_config(cfg: &Config, public_pem: &str, feed: EventFeed) -> SimConfig {
    let mut s = SimConfig::new(public_pem.to_owned());
    let d = &cfg.docusign();
    let pick = |v: &Option<String>, dflt: &mut String| {
        if let Some(v) = v.as_ref().filter(|v| !v.trim().is_empty()) {
            dflt.clone_from(v);
        }
    };
    pick(&d.integration_key, &mut s.integration_key);
    pick(&d.user_id, &mut s.user_id);
    pick(&d.account_id, &mut s.account_id);
    pick(&d.organization_id, &mut s.organization_id);
    s.feed = feed;
    s.users = cfg.demo.users.get() as usize;
    s
}

impl Demo {
    /// Starts the simulator for `cfg` on 127.0.0.1 with a generated key, which it returns.
    ///
    /// # Errors
    /// `Error::Internal` when the key cannot be generated or no loopback port can be bound.
    pub async fn start(cfg: &Config) -> Result<(Self, PrivateKey), Error> {
        let (_, key) = generate_key()?;
        let feed = EventFeed::Clock { period: cfg.demo.event_period.get().max(Duration::from_millis(100)) };
        let sc = sim_config(cfg, key.public_pem(), feed);
        let ids = Ids {
            integration_key: sc.integration_key.clone(),
            user_id: sc.user_id.clone(),
            account_id: sc.account_id.clone(),
            organization_id: sc.organization_id.clone(),
        };
        let simulator = Simulator::new(sc);
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::Internal(format!("cannot bind the demo simulator: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::Internal(e.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let sim = simulator.clone();
        tokio::spawn(async move {
            if let Err(e) = sim.serve(listener, async { drop(stopped.await) }).await {
                tracing::error!(error = %e, "The demo simulator stopped.");
            }
        });
        let base = format!("http://{addr}");
        info!(url = %base, "Demo environment: the built-in DocuSign simulator stands in for DocuSign.");
        Ok((Self { simulator, base, ids, _stop: stop }, key))
    }
}

/// A running in-process Yousign simulator (`[yousign] environment = "demo"`); it stops when
/// dropped.
#[derive(Debug)]
pub struct YousignDemo {
    /// The simulator's handle.
    pub simulator: esign_sim::yousign::YousignSim,
    /// `http://127.0.0.1:PORT/v3`.
    pub base: String,
    /// The API key it accepts.
    pub api_key: secrecy::SecretString,
    _stop: oneshot::Sender<()>,
}

impl YousignDemo {
    /// Starts the Yousign simulator on 127.0.0.1. Its limits are not enforced and its headers
    /// never ask for a pause; the collector still paces the demo tenant to Yousign's
    /// production limits (60/min, 1,200/h), its own quotas, as it would a real one.
    ///
    /// # Errors
    /// `Error::Internal` when no loopback port can be bound.
    pub async fn start() -> Result<Self, Error> {
        let mut cfg = esign_sim::yousign::YousignConfig::new();
        // A demo is not throttled: its rate-limit headers never ask the collector to pause.
        cfg.limits = esign_sim::yousign::RateLimits { per_minute: 100_000, per_hour: 1_000_000, enforce: false };
        let api_key = secrecy::SecretString::from(cfg.api_key.clone());
        let simulator = esign_sim::yousign::YousignSim::new(cfg);
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::Internal(format!("cannot bind the Yousign demo simulator: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::Internal(e.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let sim = simulator.clone();
        tokio::spawn(async move {
            if let Err(e) = sim.serve(listener, async { drop(stopped.await) }).await {
                tracing::error!(error = %e, "The Yousign demo simulator stopped.");
            }
        });
        let base = format!("http://{addr}/v3");
        info!(url = %base, "Demo environment: the built-in Yousign simulator stands in for Yousign.");
        Ok(Self { simulator, base, api_key, _stop: stop })
    }
}
