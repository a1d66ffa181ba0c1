//! The in-process simulator served on 127.0.0.1 for tests that speak HTTP to it directly
//! (`simulator_http.rs`, `simulator_esign.rs`): a key pair, the server, a client, and the JWT
//! assertion the simulator trusts.
#![allow(unreachable_pub, clippy::unwrap_used, clippy::missing_panics_doc)]

use std::sync::OnceLock;

use chrono::Utc;
use esign_sim::docusign::{SimConfig, Simulator};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::json;
use tokio::sync::oneshot;

/// (private PKCS#8 PEM, public SPKI PEM), generated once per test binary.
pub fn keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        (private, public)
    })
}

/// A running simulator; it stops when this is dropped.
pub struct Served {
    pub sim: Simulator,
    pub cfg: SimConfig,
    /// `127.0.0.1:PORT`, also the JWT audience.
    pub host: String,
    pub base: String,
    pub http: reqwest::Client,
    /// Held: dropping it stops the server.
    #[allow(dead_code, reason = "held for its drop in some test binaries")]
    pub stop: oneshot::Sender<()>,
}

/// Starts a simulator trusting [`keys`], its config changed by `tune`, on a free port.
pub async fn start(tune: impl FnOnce(&mut SimConfig)) -> Served {
    let mut cfg = SimConfig::new(keys().1.clone());
    tune(&mut cfg);
    let sim = Simulator::new(cfg.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = sim.clone();
    tokio::spawn(async move {
        server
            .serve(listener, async move {
                stopped.await.ok();
            })
            .await
            .unwrap();
    });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Served { sim, cfg, base: format!("http://{host}"), host, http, stop }
}

impl Served {
    /// A JWT assertion for the simulator's integration key and user, asking for `scope`.
    pub fn assertion(&self, scope: &str) -> String {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.cfg.integration_key, "sub": self.cfg.user_id, "aud": self.host,
            "iat": now - 30, "exp": now + 3570, "scope": scope,
        });
        let key = EncodingKey::from_rsa_pem(keys().0.as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
    }
}
