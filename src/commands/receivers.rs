//! The push receivers `run` hosts beside the tenant loops: built from `[receivers]`, on one
//! listener shared by every tenant (messages are routed by account), delivering through the
//! same sinks and state file as the pulled sources. `fetch` hosts none.

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use crate::config::{Config, ConnectConfig};
use crate::connectors::docusign::connect::{ConnectReceiver, Route};
use crate::core::fanout::Fanout;
use crate::core::push::{Push, PushError, PushOptions, Receiver};
use crate::error::Error;
use crate::state::Store;
use crate::values::ConfigError;

/// A receiver ready to serve: the pipeline, its bound listener and its TLS settings.
#[derive(Debug)]
pub(super) struct Hosted {
    pub(super) push: Push,
    pub(super) listener: TcpListener,
    pub(super) tls: Option<Arc<rustls::ServerConfig>>,
}

/// Builds and binds the configured receivers (`None` when there are none).
///
/// # Errors
/// `Error::Config` when a secret cannot be read, the TLS files are unusable or the address
/// cannot be bound; `Error::Store` when the inbox cannot be read.
pub(super) async fn host(
    cfg: &Config,
    store: &Arc<Mutex<Store>>,
    sinks: &Arc<Fanout>,
) -> Result<Option<Hosted>, Error> {
    let Some(c) = &cfg.receivers.connect else { return Ok(None) };
    let secrets = c.secrets()?;
    let tls = tls(c)?;
    let routes = cfg
        .tenants()
        .into_iter()
        .filter_map(|t| {
            let tenant = t.named.then(|| t.name.clone());
            t.cfg.docusign.as_ref().and_then(|d| d.account_id.clone()).map(|account_id| Route { account_id, tenant })
        })
        .collect();
    let receiver: Arc<dyn Receiver> = Arc::new(ConnectReceiver::new(c, secrets, routes));
    let opts = PushOptions {
        max_body: c.max_body.get() as usize,
        inbox_capacity: u64::from(c.inbox_capacity.get()),
        ledger_size: cfg.state.ledger_size.get(),
        read_timeout: c.read_timeout.get(),
        ..PushOptions::default()
    };
    let push = Push::new(vec![receiver], store.clone(), sinks.clone(), opts).map_err(|e| match e {
        PushError::Store(e) => Error::Store(e),
        other => Error::Config(ConfigError::invalid("receivers", other.to_string())),
    })?;
    let listener = TcpListener::bind(c.listen)
        .await
        .map_err(|e| ConfigError::invalid("receivers.connect.listen", format!("cannot listen on {}: {e}", c.listen)))?;
    Ok(Some(Hosted { push, listener, tls }))
}

/// The TLS server settings of `tls_cert_file` and `tls_key_file`, read and checked.
fn tls(c: &ConnectConfig) -> Result<Option<Arc<rustls::ServerConfig>>, ConfigError> {
    let (Some(cert), Some(key)) = (&c.tls_cert_file, &c.tls_key_file) else { return Ok(None) };
    // The shared reader names `<table>.cert_file`/`key_file`; these keys have a `tls_` prefix.
    let identity = crate::http::tls::ClientIdentity::read("receivers.connect", cert, key).map_err(|e| match e {
        ConfigError::Invalid { key, message } => ConfigError::Invalid {
            key: key.replace(".cert_file", ".tls_cert_file").replace(".key_file", ".tls_key_file"),
            message,
        },
        other => other,
    })?;
    let (chain, private) = identity.parts();
    let bad = |e: rustls::Error| ConfigError::invalid("receivers.connect.tls_cert_file", e.to_string());
    let mut server = rustls::ServerConfig::builder_with_provider(crate::http::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(bad)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(bad)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(server)))
}
