//! Where an account's eSignature API is. DocuSign serves each account from its own host
//! (`na3.docusign.net`, `eu.docusign.net`, …): `GET {auth}/oauth/userinfo` names it as the
//! account's `base_uri`. It is kept in the state file and found again when that host answers
//! 404 or a redirect for the account (the account moved); `docusign.esignature_base_url`
//! overrides it. The API root is `{base_uri}/restapi/v2.1/accounts/{accountId}`.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::{info, warn};

use super::Session;
use crate::core::collector::lock;
use crate::error::Error;
use crate::http::{ApiError, Call};
use crate::state::Store;

/// The eSignature API of one account.
#[derive(Debug)]
pub struct Esignature {
    session: Arc<Session>,
    store: Option<Arc<Mutex<Store>>>,
    tenant: String,
    userinfo: String,
    account_id: String,
    /// `docusign.esignature_base_url`: never replaced.
    fixed: Option<String>,
    /// The host in use, once known.
    current: Mutex<Option<String>>,
    /// Whether a list window is being read: the audit source waits for it to end, so the
    /// envelopes a window queues are read in the same cycle.
    listing: tokio::sync::watch::Sender<bool>,
}

/// `accounts[].base_uri` of `account_id` in a userinfo reply, without a trailing slash.
///
/// # Errors
/// What is missing, for an `ApiError::Malformed`.
pub fn account_base_uri(userinfo: &Value, account_id: &str) -> Result<String, String> {
    let accounts = userinfo.get("accounts").and_then(Value::as_array).ok_or("no `accounts` array")?;
    let account = accounts
        .iter()
        .find(|a| a.get("account_id").and_then(Value::as_str) == Some(account_id))
        .ok_or_else(|| {
            format!(
                "the impersonated user has no access to account {account_id} (docusign.account_id); `auth-test` lists the accounts"
            )
        })?;
    let base = account.get("base_uri").and_then(Value::as_str).map(str::trim).unwrap_or_default();
    match url::Url::parse(base) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(base.trim_end_matches('/').to_owned()),
        _ => Err(format!("account {account_id} has no usable `base_uri` ({base:?})")),
    }
}

/// Whether a refusal means the host no longer serves the account (it moved).
fn moved(e: &Error) -> bool {
    matches!(e, Error::Api(ApiError::Status { status, .. }) if *status == 404 || (300..400).contains(status))
}

impl Esignature {
    /// The eSignature API of `account_id`, its host found through `{auth_base}/oauth/userinfo`
    /// unless `fixed` (the override) is given. `store` keeps the host across runs.
    pub fn new(
        session: Arc<Session>,
        store: Option<Arc<Mutex<Store>>>,
        tenant: &str,
        auth_base: &str,
        account_id: &str,
        fixed: Option<String>,
    ) -> Self {
        Self {
            session,
            store,
            tenant: tenant.to_owned(),
            userinfo: format!("{}/oauth/userinfo", auth_base.trim_end_matches('/')),
            account_id: account_id.to_owned(),
            fixed: fixed.map(|f| f.trim_end_matches('/').to_owned()),
            current: Mutex::new(None),
            listing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Marks a list window as being read (or not).
    pub(super) fn set_listing(&self, on: bool) {
        self.listing.send_replace(on);
    }

    /// Waits until no list window is being read, at most `limit`.
    pub(super) async fn listing_done(&self, limit: std::time::Duration) {
        let mut rx = self.listing.subscribe();
        // Timing out is fine: what a window still queues is read next cycle.
        drop(tokio::time::timeout(limit, rx.wait_for(|on| !*on)).await);
    }

    /// The session's client, for calls outside the account's API.
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn root_of(&self, base: &str) -> String {
        let id: String = url::form_urlencoded::byte_serialize(self.account_id.as_bytes()).collect();
        format!("{base}/restapi/v2.1/accounts/{id}")
    }

    /// The account's API root: `{base}/restapi/v2.1/accounts/{accountId}`.
    ///
    /// # Errors
    /// As [`Esignature::base`].
    pub async fn root(&self) -> Result<String, Error> {
        Ok(self.root_of(&self.base().await?))
    }

    /// The account's host: the override, the one in use, the stored one, or userinfo's.
    ///
    /// # Errors
    /// The userinfo call's failure; `ApiError::Malformed` when it does not name the account's host.
    pub async fn base(&self) -> Result<String, Error> {
        if let Some(f) = &self.fixed {
            return Ok(f.clone());
        }
        if let Some(b) = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
            return Ok(b);
        }
        let stored = match &self.store {
            Some(s) => lock(s).base_uri(&self.tenant, &self.account_id)?,
            None => None,
        };
        let base = match stored {
            Some(b) => b,
            None => self.discover().await?,
        };
        *self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(base.clone());
        Ok(base)
    }

    /// Asks userinfo for the account's host and stores it.
    async fn discover(&self) -> Result<String, Error> {
        let s = &self.session;
        let info = s.client.get_json(&s.api, "userinfo", &self.userinfo).await?;
        let base = account_base_uri(&info, &self.account_id)
            .map_err(|message| ApiError::Malformed { what: "userinfo".into(), message })?;
        if let Some(st) = &self.store {
            lock(st).set_base_uri(&self.tenant, &self.account_id, &base)?;
        }
        info!(tenant = %self.tenant, base_uri = %base, "eSignature host of the account found through userinfo.");
        Ok(base)
    }

    /// An authenticated GET of `{root}{path}` (`path` starts with `/`), the 2xx body read by
    /// `parse`. Redirects are not followed: a 404 or a redirect from a discovered host asks
    /// userinfo again and, when the account moved, repeats the call once on its new host.
    /// `max_retries` as in [`crate::http::Call`].
    ///
    /// # Errors
    /// As [`super::Client::get_parsed`]; the userinfo call's failure.
    pub async fn get<T>(
        &self,
        what: &str,
        path: &str,
        max_retries: Option<u32>,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, Error> {
        let base = self.base().await?;
        let s = &self.session;
        // A redirect to another host would lose the token on the way (reqwest drops it), and
        // DocuSign moving an account is exactly what userinfo is asked again for.
        let call = Call { max_retries, follow_redirects: false };
        let url = format!("{}{path}", self.root_of(&base));
        match s.client.get_parsed_with(&s.api, what, &url, call, &parse).await {
            Err(e) if self.fixed.is_none() && moved(&e) => {
                let fresh = self.discover().await?;
                *self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
                if fresh == base {
                    return Err(e);
                }
                warn!(tenant = %self.tenant, old = %base, new = %fresh, "The account's eSignature host changed; using the new one.");
                let url = format!("{}{path}", self.root_of(&fresh));
                s.client.get_parsed_with(&s.api, what, &url, call, &parse).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_the_configured_account() {
        let info = json!({"accounts": [
            {"account_id": "a1", "base_uri": "https://na3.docusign.net", "is_default": true},
            {"account_id": "a2", "base_uri": "https://eu.docusign.net/"}]});
        assert_eq!(account_base_uri(&info, "a1").unwrap(), "https://na3.docusign.net");
        assert_eq!(account_base_uri(&info, "a2").unwrap(), "https://eu.docusign.net");
        assert!(account_base_uri(&info, "a3").unwrap_err().contains("no access to account a3"));
        assert!(account_base_uri(&json!({}), "a1").is_err());
        let bad = json!({"accounts": [{"account_id": "a1", "base_uri": "na3"}]});
        assert!(account_base_uri(&bad, "a1").unwrap_err().contains("usable"));
    }

    #[test]
    fn moved_is_404_or_a_redirect() {
        let status = |status| {
            Error::Api(ApiError::Status {
                what: "x".into(),
                status,
                body: String::new(),
                trace: String::new(),
                hint: "",
            })
        };
        assert!(moved(&status(404)));
        assert!(moved(&status(301)));
        assert!(!moved(&status(403)));
        assert!(!moved(&status(429)));
    }
}
