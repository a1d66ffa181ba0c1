//! The push receivers `run` hosts beside the tenant loops: built from `[receivers]`, on one
//! listener per address shared by every tenant (Connect messages are routed by account),
//! delivering through the
//! same sinks and state file as the pulled sources. `fetch` hosts none.

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use crate::config::Config;
use crate::connectors::docusign::connect::{ConnectReceiver, Route};
use crate::connectors::yousign::webhook::YousignReceiver;
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

/// One receiver to host, with the settings of its table.
struct Planned {
    receiver: Arc<dyn Receiver>,
    table: &'static str,
    listen: std::net::SocketAddr,
    opts: PushOptions,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Builds and binds the configured receivers: one listener per distinct `listen` address
/// (receivers on the same address share it, on their own paths). Empty when there are none.
///
/// # Errors
/// `Error::Config` when a secret cannot be read, the TLS files are unusable or an address
/// cannot be bound (or two receivers on one address disagree on TLS); `Error::Store` when the
/// inbox cannot be read.
pub(super) async fn host(cfg: &Config, store: &Arc<Mutex<Store>>, sinks: &Arc<Fanout>) -> Result<Vec<Hosted>, Error> {
    let mut planned = Vec::new();
    if let Some(c) = &cfg.receivers.connect {
        let secrets = c.secrets()?;
        let routes = cfg
            .tenants()
            .into_iter()
            .filter_map(|t| {
                let tenant = t.named.then(|| t.name.clone());
                t.cfg
                    .docusign
                    .as_ref()
                    .and_then(|d| d.account_id.clone())
                    .map(|account_id| Route { account_id, tenant })
            })
            .collect();
        planned.push(Planned {
            receiver: Arc::new(ConnectReceiver::new(c, secrets, routes)),
            table: "receivers.connect",
            listen: c.listen,
            opts: PushOptions {
                max_body: c.max_body.get() as usize,
                inbox_capacity: u64::from(c.inbox_capacity.get()),
                ledger_size: cfg.state.ledger_size.get(),
                read_timeout: c.read_timeout.get(),
                ..PushOptions::default()
            },
            tls: tls("receivers.connect", c.tls_cert_file.as_deref(), c.tls_key_file.as_deref())?,
        });
    }
    if let Some(y) = &cfg.receivers.yousign {
        let check = y.check()?;
        let tenant = (!cfg.tenants.is_empty()).then(|| crate::config::YOUSIGN_TENANT.to_owned());
        planned.push(Planned {
            receiver: Arc::new(YousignReceiver::new(y, check, tenant)),
            table: "receivers.yousign",
            listen: y.listen,
            opts: PushOptions {
                max_body: y.max_body.get() as usize,
                inbox_capacity: u64::from(y.inbox_capacity.get()),
                ledger_size: cfg.state.ledger_size.get(),
                read_timeout: y.read_timeout.get(),
                ..PushOptions::default()
            },
            tls: tls("receivers.yousign", y.tls_cert_file.as_deref(), y.tls_key_file.as_deref())?,
        });
    }
    let names: Vec<String> = planned.iter().map(|p| p.receiver.name().to_owned()).collect();
    let mut hosted = Vec::new();
    while let Some(first) = planned.first() {
        let listen = first.listen;
        let (group, rest): (Vec<Planned>, Vec<Planned>) = planned.into_iter().partition(|p| p.listen == listen);
        planned = rest;
        let (table, tls, opts) = (group[0].table, group[0].tls.clone(), group[0].opts.clone());
        if group.iter().any(|p| p.tls.is_some() != tls.is_some()) {
            return Err(ConfigError::invalid(
                format!("{table}.tls_cert_file"),
                format!("receivers sharing {listen} must all terminate TLS, or none"),
            )
            .into());
        }
        let receivers: Vec<Arc<dyn Receiver>> = group.into_iter().map(|p| p.receiver).collect();
        // Another listener of this process delivers the other receivers' waiting messages.
        let opts = PushOptions { also_served: names.clone(), ..opts };
        let push = Push::new(receivers, store.clone(), sinks.clone(), opts).map_err(|e| match e {
            PushError::Store(e) => Error::Store(e),
            other => Error::Config(ConfigError::invalid("receivers", other.to_string())),
        })?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| ConfigError::invalid(format!("{table}.listen"), format!("cannot listen on {listen}: {e}")))?;
        hosted.push(Hosted { push, listener, tls });
    }
    Ok(hosted)
}

/// The TLS server settings of `tls_cert_file` and `tls_key_file`, read and checked.
fn tls(
    table: &str,
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> Result<Option<Arc<rustls::ServerConfig>>, ConfigError> {
    let (Some(cert), Some(key)) = (cert, key) else { return Ok(None) };
    // The shared reader names `<table>.cert_file`/`key_file`; these keys have a `tls_` prefix.
    let identity = crate::http::tls::ClientIdentity::read(table, cert, key).map_err(|e| match e {
        ConfigError::Invalid { key, message } => ConfigError::Invalid {
            key: key.replace(".cert_file", ".tls_cert_file").replace(".key_file", ".tls_key_file"),
            message,
        },
        other => other,
    })?;
    let (chain, private) = identity.parts();
    let bad = |e: rustls::Error| ConfigError::invalid(format!("{table}.tls_cert_file"), e.to_string());
    let mut server = rustls::ServerConfig::builder_with_provider(crate::http::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(bad)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(bad)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(server)))
}
