//! `auth login`: the Authorization Code Grant's one interactive step. The user logs in to
//! DocuSign in a browser; DocuSign redirects to a listener on 127.0.0.1 (as DocuSign's own
//! CLI does) with a code, checked against the random `state`, exchanged with the PKCE verifier
//! (and the client secret of a confidential app) for the first refresh token, which is sealed
//! in the state file before the command says it is done. `--no-browser` prints the URL and
//! reads the redirect URL (or the bare code) pasted back instead.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::auth::{AuthError, REFRESH_LIFETIME_SECS, SealedStore, authorize_url, random_secret};
use crate::cli::LoginArgs;
use crate::config::{AuthFlow, Config, ConfigError, Tenant};
use crate::connectors::docusign;
use crate::error::Error;
use crate::http::{Api, Budget};
use crate::sinks::SinkError;
use crate::state::Store;

/// The port the redirect listener binds by default (register
/// `http://127.0.0.1:8765/callback` on the integration key).
pub(crate) const DEFAULT_PORT: u16 = 8765;

/// Logs in the one authorization-code tenant (or the one `--tenant` names).
///
/// # Errors
/// `ConfigError::Argument` when no such tenant exists or the port is busy; `AuthError` when
/// the login is denied, times out or the code is refused; `StoreError` when the state file
/// cannot keep the token.
pub(crate) async fn run(cfg: &Config, tenants: Vec<Tenant>, chosen: bool, args: &LoginArgs) -> Result<(), Error> {
    let tenant = pick(tenants, chosen)?;
    let d = &tenant.cfg.docusign();
    let auth_base = d.auth_base_url.as_ref().map_or_else(|| d.environment.auth_base(), crate::values::HttpUrl::base);
    let redirect = redirect_uri(d.redirect_uri.0.as_str(), args.port);
    let scopes = d.scopes(&tenant.cfg.sources);
    let store = Arc::new(Mutex::new(Store::open(&cfg.state.path)?));
    let credentials = crate::context::client_credentials(d)?;
    let integration_key = credentials.integration_key.clone();
    let grant = docusign::auth_code_grant(
        credentials,
        &auth_base,
        tenant.cfg.sources.required_scopes(AuthFlow::AuthorizationCode).into_iter().map(str::to_owned).collect(),
        &tenant.name,
        SealedStore::open(store)?,
    );
    let api = Api::new(&tenant.cfg.client_settings(), &tenant.cfg.rate_limit, tenant.cfg.burst())?;
    let (state, verifier) = (random_secret(), random_secret());
    let url = authorize_url(&auth_base, &integration_key, redirect.as_str(), &scopes, &state, &verifier);
    let limit = args.timeout;
    let exchange = |code: SecretString| {
        let (grant, api, verifier, redirect, scopes, auth_base) =
            (&grant, &api, &verifier, &redirect, &scopes, &auth_base);
        async move {
            let g = grant.exchange_code(api, &code, verifier, redirect.as_str(), scopes).await?;
            let who = whoami(api, auth_base, &g.access.secret, d.account_id.as_deref()).await;
            grant.keep_login(g, &who)?;
            Ok::<String, Error>(who)
        }
    };
    let who = if args.no_browser {
        say(&format!(
            "Open this URL in a browser and log in to DocuSign (tenant {}):\n\n  {url}\n\n\
             DocuSign then sends the browser to {redirect}?code=…, which may show an error page on this \
             machine: paste that whole address (or only its code) here and press Enter.\n",
            tenant.name
        ))?;
        let line = tokio::time::timeout(limit, read_line()).await.map_err(|_| timed_out(limit))??;
        let code = code_from_paste(&line, &state)?;
        exchange(code).await?
    } else {
        let listener = bind(&redirect, args.port).await?;
        say(&format!(
            "Open this URL in a browser and log in to DocuSign (tenant {}):\n\n  {url}\n\n\
             Waiting up to {} s for DocuSign's redirect to {redirect} …\n",
            tenant.name,
            limit.as_secs()
        ))?;
        open_browser(&url);
        let (tx, mut rx) = mpsc::channel::<Callback>(4);
        let app = Router::new()
            .route(redirect.path(), get(callback))
            .with_state(Arc::new(Expected { state: state.clone(), tx }));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async move { drop(stopped.await) };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                warn!(error = %e, "The login listener stopped.");
            }
        });
        // A redirect with another login's state is refused by the handler and never arrives here.
        let outcome = tokio::time::timeout(limit, async {
            let Some(cb) = rx.recv().await else { return Err(Error::Internal("login listener ended".into())) };
            match cb {
                Callback::Denied { error, description, reply } => {
                    reply.send(Err(format!("DocuSign answered {error}: {description}"))).unwrap_or_default();
                    Err(AuthError::Login(format!(
                        "the login was not completed: DocuSign answered {error} {description}"
                    ))
                    .into())
                }
                Callback::Code { code, reply } => {
                    let result = exchange(code).await;
                    let page = result.as_ref().map(Clone::clone).map_err(ToString::to_string);
                    reply.send(page).unwrap_or_default();
                    result
                }
            }
        })
        .await;
        // Let the browser's page be written before the listener stops.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap_or_default();
        server.await.unwrap_or_default();
        outcome.map_err(|_| timed_out(limit))??
    };
    let days = REFRESH_LIFETIME_SECS / 86_400;
    say(&format!(
        "Logged in to DocuSign as {who} (tenant {}). The refresh token is sealed in {} and lasts {days} days; \
         each refresh renews it, so collection needs no new login while it runs at least monthly.\n",
        tenant.name,
        cfg.state.path.display()
    ))?;
    info!(tenant = %tenant.name, "Logged in with the authorization code grant.");
    Ok(())
}

/// The tenant to log in: the one named, or the only authorization-code tenant.
fn pick(tenants: Vec<Tenant>, chosen: bool) -> Result<Tenant, Error> {
    let arg = |message: String| ConfigError::Argument { arg: "--tenant".into(), message };
    let (docusign, others): (Vec<Tenant>, Vec<Tenant>) =
        tenants.into_iter().partition(|t| t.vendor == crate::config::Vendor::Docusign);
    if chosen && let Some(t) = others.first() {
        return Err(arg(format!("tenant {:?} is not a DocuSign tenant: `auth login` is DocuSign's", t.name)).into());
    }
    let (code, jwt): (Vec<Tenant>, Vec<Tenant>) =
        docusign.into_iter().partition(|t| t.cfg.docusign().auth == AuthFlow::AuthorizationCode);
    if chosen && let Some(t) = jwt.first() {
        return Err(arg(format!(
            "tenant {:?} uses the JWT grant; `auth login` is for tenants with docusign.auth = \"authorization_code\"",
            t.name
        ))
        .into());
    }
    let names: Vec<String> = code.iter().map(|t| t.name.clone()).collect();
    match <[Tenant; 1]>::try_from(code) {
        Ok([t]) => Ok(t),
        Err(v) if v.is_empty() => Err(arg(
            "no tenant uses the authorization code grant: set docusign.auth = \"authorization_code\" (or a tenant's auth)"
                .into(),
        )
        .into()),
        Err(_) => Err(arg(format!("several tenants use the authorization code grant; name one: {}", names.join(", "))).into()),
    }
}

/// The redirect URI: `docusign.redirect_uri` when it is a loopback `http` address (its port
/// replaced by `--port`), else `http://127.0.0.1:PORT/callback`.
fn redirect_uri(configured: &str, port: Option<u16>) -> url::Url {
    if let Ok(mut u) = url::Url::parse(configured)
        && u.scheme() == "http"
        && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    {
        if let Some(p) = port {
            // A loopback http URL always takes a port.
            u.set_port(Some(p)).unwrap_or_default();
        }
        return u;
    }
    let p = port.unwrap_or(DEFAULT_PORT);
    url::Url::parse(&format!("http://127.0.0.1:{p}/callback")).unwrap_or_else(|_| unreachable!("a fixed valid URL"))
}

/// Binds the listener on the redirect's loopback address.
async fn bind(redirect: &url::Url, port: Option<u16>) -> Result<tokio::net::TcpListener, Error> {
    let p = redirect.port().unwrap_or(80);
    let ip: std::net::IpAddr =
        if redirect.host_str() == Some("[::1]") { [0u16, 0, 0, 0, 0, 0, 0, 1].into() } else { [127, 0, 0, 1].into() };
    tokio::net::TcpListener::bind(SocketAddr::new(ip, p)).await.map_err(|e| {
        let hint = if port.is_some() { "" } else { " (choose another with --port, and register that redirect URI)" };
        ConfigError::Argument { arg: "--port".into(), message: format!("cannot listen on {ip}:{p}: {e}{hint}") }.into()
    })
}

/// Starts the desktop's browser on `url` when there is a desktop (`$BROWSER`, else
/// `xdg-open` under X11 or Wayland); the printed URL works either way.
fn open_browser(url: &str) {
    let program = std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty()).or_else(|| {
        let desktop = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        desktop.then(|| "xdg-open".to_owned())
    });
    if let Some(p) = program {
        let spawned = std::process::Command::new(&p)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            warn!(program = %p, error = %e, "Cannot start a browser; open the URL by hand.");
        }
    }
}

fn timed_out(limit: Duration) -> Error {
    AuthError::Login(format!("no login completed within {} s; run `auth login` again", limit.as_secs())).into()
}

fn say(text: &str) -> Result<(), Error> {
    let mut err = std::io::stderr().lock();
    err.write_all(text.as_bytes())
        .and_then(|()| err.flush())
        .map_err(|source| SinkError::Io { sink: "stderr".into(), source }.into())
}

/// One line of stdin. It is read on a thread of its own, not the runtime's blocking pool: the
/// runtime waits for its blocking tasks when it is dropped, so a timed-out wait for a paste
/// would keep the process alive until someone pressed Enter.
async fn read_line() -> Result<String, Error> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("login-paste".into())
        .spawn(move || {
            let mut line = String::new();
            tx.send(std::io::stdin().read_line(&mut line).map(|_| line)).unwrap_or_default();
        })
        .map_err(|e| Error::Internal(format!("cannot start the stdin reader: {e}")))?;
    rx.await
        .map_err(|_| Error::Internal("the stdin reader ended without a line".into()))?
        .map_err(|source| SinkError::Io { sink: "stdin".into(), source }.into())
}

/// The code in a pasted redirect URL (its `state` checked) or a bare code.
fn code_from_paste(line: &str, state: &SecretString) -> Result<SecretString, Error> {
    let text = line.trim();
    if text.is_empty() {
        return Err(AuthError::Login("nothing was pasted".into()).into());
    }
    let Ok(u) = url::Url::parse(text) else {
        warn!("A bare code was pasted: its state cannot be checked.");
        return Ok(SecretString::from(text.to_owned()));
    };
    let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
    if let Some(error) = q.get("error") {
        let d = q.get("error_description").cloned().unwrap_or_default();
        return Err(AuthError::Login(format!("the login was not completed: DocuSign answered {error} {d}")).into());
    }
    if !q.get("state").is_some_and(|s| same(s, state)) {
        return Err(AuthError::Login(
            "the pasted address's state does not match this login (an old or someone else's redirect)".into(),
        )
        .into());
    }
    q.get("code")
        .filter(|c| !c.is_empty())
        .map(|c| SecretString::from(c.clone()))
        .ok_or_else(|| AuthError::Login("the pasted address carries no code".into()).into())
}

/// Constant-time comparison of a received `state` with ours.
fn same(got: &str, ours: &SecretString) -> bool {
    use subtle::ConstantTimeEq as _;
    got.as_bytes().ct_eq(ours.expose_secret().as_bytes()).into()
}

/// Who logged in, from `/oauth/userinfo` ("Name <email>"); a warning when the configured
/// account is not theirs. A failure here does not undo the login.
async fn whoami(api: &Api, auth_base: &str, token: &SecretString, account: Option<&str>) -> String {
    let url = format!("{}/oauth/userinfo", auth_base.trim_end_matches('/'));
    let reply = api
        .execute("userinfo", Budget::Free, |c| c.get(&url).bearer_auth(token.expose_secret()))
        .await
        .ok()
        .and_then(|r| r.json);
    let Some(info) = reply else {
        warn!("Logged in, but /oauth/userinfo did not answer: the user is not known.");
        return "an unknown user".into();
    };
    let s = |k: &str| info.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    if let Some(account) = account {
        let accounts = info.get("accounts").and_then(Value::as_array).cloned().unwrap_or_default();
        if !accounts.iter().any(|a| a.get("account_id").and_then(Value::as_str) == Some(account)) {
            warn!(
                account,
                "The user who logged in has no access to docusign.account_id: log in as a user of that account."
            );
        }
    }
    format!("{} <{}>", s("name"), s("email"))
}

/// What the redirect listener passes on.
enum Callback {
    /// A code with a matching state; `reply` gets the page's outcome.
    Code { code: SecretString, reply: oneshot::Sender<Result<String, String>> },
    /// DocuSign redirected with an error (the user declined, or a bad request).
    Denied { error: String, description: String, reply: oneshot::Sender<Result<String, String>> },
}

struct Expected {
    state: SecretString,
    tx: mpsc::Sender<Callback>,
}

async fn callback(
    State(x): State<Arc<Expected>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let page = |status: u16, title: &str, body: &str| {
        let code = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
        let html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>esign-collector: {title}</title></head>\
             <body><h1>{title}</h1><p>{}</p></body></html>",
            html_escape(body)
        );
        (code, Html(html)).into_response()
    };
    // A redirect whose state is not ours (a stale tab, a forged link) is refused and ignored.
    if !q.get("state").is_some_and(|s| same(s, &x.state)) {
        warn!("A redirect with a state that is not this login's was refused.");
        return page(400, "Not this login", "The state of this redirect does not match the login in progress.");
    }
    let (reply, answer) = oneshot::channel();
    let cb = match (q.get("code"), q.get("error")) {
        (_, Some(error)) => Callback::Denied {
            error: error.clone(),
            description: q.get("error_description").cloned().unwrap_or_default(),
            reply,
        },
        (Some(code), None) if !code.is_empty() => Callback::Code { code: SecretString::from(code.clone()), reply },
        _ => return page(400, "No code", "The redirect carries neither a code nor an error."),
    };
    if x.tx.send(cb).await.is_err() {
        return page(409, "Login over", "This login already ended.");
    }
    match answer.await {
        Ok(Ok(who)) => page(200, "Logged in", &format!("Logged in as {who}. You can close this tab.")),
        Ok(Err(why)) => page(400, "Login failed", &why),
        Err(_) => page(500, "Login failed", "The collector stopped before finishing the login."),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_is_the_configured_loopback_one_or_the_default() {
        let default = "https://developers.docusign.com/platform/auth/consent";
        assert_eq!(redirect_uri(default, None).as_str(), "http://127.0.0.1:8765/callback");
        assert_eq!(redirect_uri(default, Some(9000)).as_str(), "http://127.0.0.1:9000/callback");
        assert_eq!(
            redirect_uri("http://localhost:3000/ds/callback", None).as_str(),
            "http://localhost:3000/ds/callback"
        );
        assert_eq!(
            redirect_uri("http://localhost:3000/ds/callback", Some(4000)).as_str(),
            "http://localhost:4000/ds/callback"
        );
    }

    #[test]
    fn a_pasted_redirect_must_carry_our_state() {
        let state = SecretString::from("abc");
        let ok = code_from_paste("http://127.0.0.1:8765/callback?code=C1&state=abc\n", &state).unwrap();
        assert_eq!(ok.expose_secret(), "C1");
        assert!(code_from_paste("http://127.0.0.1:8765/callback?code=C1&state=xyz", &state).is_err());
        assert!(code_from_paste("http://127.0.0.1:8765/callback?error=access_denied&state=abc", &state).is_err());
        assert_eq!(code_from_paste("  C2 ", &state).unwrap().expose_secret(), "C2");
        assert!(code_from_paste(" \n", &state).is_err());
    }
}
