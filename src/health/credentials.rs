//! Judging each tenant's credentials from the state file alone: its flow, for the JWT grant
//! which key DocuSign accepts (and whether the first is refused), for the Authorization Code
//! Grant the refresh token's age, expiry and whether DocuSign refused it. `status`, `/healthz` and the scrape-time gauges
//! all call [`assess`].

use serde_json::{Value, json};

use crate::auth::{REFRESH_WARNING_SECS, rfc3339};
use crate::config::{AuthFlow, Config};
use crate::state::{Store, StoreError};

/// One tenant's credentials as `status` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialHealth {
    /// The tenant.
    pub tenant: String,
    /// The configured flow.
    pub flow: AuthFlow,
    /// JWT: which key (1-based) DocuSign last accepted, of how many, and its label.
    pub key: Option<(i64, i64, String)>,
    /// JWT: since when (Unix seconds) the first key is refused.
    pub first_key_refused_at: Option<i64>,
    /// Code grant: the stored refresh token's `(logged_in_at, issued_at, expires_at, user)`.
    pub refresh: Option<(i64, i64, i64, String)>,
    /// What needs a look soon (collection goes on).
    pub warnings: Vec<String>,
    /// What stops collection until someone acts (a login is missing or expired).
    pub problem: Option<String>,
}

/// Judges the credentials of every tenant of `cfg` (or only `only`) at `now` (Unix seconds).
///
/// # Errors
/// `StoreError` when the file cannot be read.
pub fn assess(
    cfg: &Config,
    only: Option<&str>,
    store: Option<&Store>,
    now: i64,
) -> Result<Vec<CredentialHealth>, StoreError> {
    let statuses = store.map(Store::credential_status).transpose()?.unwrap_or_default();
    let refreshes = store.map(Store::refresh_tokens).transpose()?.unwrap_or_default();
    let mut out = Vec::new();
    let docusign = cfg.owned_tenants().into_iter().filter(|t| t.vendor == crate::config::Vendor::Docusign);
    for t in docusign.filter(|t| only.is_none_or(|o| o == t.name)) {
        let flow = t.cfg.docusign().auth;
        let status = statuses.iter().find(|s| s.tenant == t.name && s.flow == flow.as_str());
        let mut h = CredentialHealth {
            tenant: t.name.clone(),
            flow,
            key: None,
            first_key_refused_at: None,
            refresh: None,
            warnings: Vec::new(),
            problem: None,
        };
        match flow {
            AuthFlow::Jwt => {
                if let Some(s) = status {
                    if let (Some(i), Some(n)) = (s.key_in_use, s.key_count) {
                        h.key = Some((i, n, s.key_label.clone().unwrap_or_default()));
                    }
                    h.first_key_refused_at = s.first_key_refused_at;
                    if let (Some(since), Some((i, n, label))) = (s.first_key_refused_at, &h.key) {
                        h.warnings.push(format!(
                            "DocuSign has refused the first private key since {} (no_valid_keys_or_signatures); \
                             key {i} of {n} ({label}) is in use: register the first key's public key on the integration key",
                            rfc3339(since)
                        ));
                    }
                }
            }
            AuthFlow::AuthorizationCode => {
                let login = format!("run `esign-collector auth login --tenant {}`", t.name);
                match refreshes.iter().find(|(tenant, _)| *tenant == t.name) {
                    None => h.problem = Some(format!("no login is stored: {login}")),
                    Some((_, r)) => {
                        h.refresh = Some((r.logged_in_at, r.issued_at, r.expires_at, r.user_name.clone()));
                        let left = r.expires_at - now;
                        if let Some((at, reason)) = &r.refused {
                            h.problem = Some(format!(
                                "DocuSign refused the refresh token at {} ({reason}): {login}",
                                rfc3339(*at)
                            ));
                        } else if left <= 0 {
                            h.problem =
                                Some(format!("the refresh token expired at {}: {login}", rfc3339(r.expires_at)));
                        } else if left <= REFRESH_WARNING_SECS {
                            h.warnings.push(format!(
                                "the refresh token expires in {} at {}: a successful refresh renews it; if none happens, {login}",
                                super::age_words(left),
                                rfc3339(r.expires_at)
                            ));
                        }
                    }
                }
            }
        }
        out.push(h);
    }
    Ok(out)
}

/// The JSON `status` and `/healthz` show.
pub fn to_json(list: &[CredentialHealth], now: i64) -> Value {
    Value::Array(
        list.iter()
            .map(|h| {
                let mut v = json!({
                    "tenant": h.tenant,
                    "flow": h.flow.as_str(),
                    "warnings": h.warnings,
                    "problem": h.problem,
                });
                if let Some((i, n, label)) = &h.key {
                    v["key_in_use"] = json!(i);
                    v["key_count"] = json!(n);
                    v["key"] = json!(label);
                    v["first_key_refused_since"] = json!(h.first_key_refused_at.map(rfc3339));
                }
                if let Some((logged_in, issued, expires, user)) = &h.refresh {
                    v["refresh_token"] = json!({
                        "user": user,
                        "logged_in_at": rfc3339(*logged_in),
                        "issued_at": rfc3339(*issued),
                        "age_seconds": now - issued,
                        "expires_at": rfc3339(*expires),
                        "expires_in_seconds": expires - now,
                    });
                }
                v
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StoredRefresh;

    /// One authorization-code tenant reading Admin users (Monitor off: it needs the JWT grant).
    fn code_grant_config() -> Config {
        use crate::connectors::docusign::{ADMIN_USERS, MONITOR_EVENTS};
        let text = format!(
            "[docusign]\nenvironment = \"developer\"\nintegration_key = \"ik\"\nauth = \"authorization_code\"\n\
             account_id = \"acc\"\norganization_id = \"org\"\n\n[sources.{}]\nenabled = false\n\n\
             [sources.{}]\nenabled = true\n",
            MONITOR_EVENTS.key, ADMIN_USERS.key
        );
        Config::parse(&text, std::path::Path::new("t.toml")).unwrap()
    }

    const NOW: i64 = 1_800_000_000;
    const SEALED: [u8; 32] = [7; 32];

    /// The tenant's health at [`NOW`] when its refresh token lapses `left` seconds later and,
    /// with `refused`, DocuSign refused it at that time for that reason.
    fn health(left: i64, refused: Option<(i64, &str)>) -> CredentialHealth {
        let cfg = code_grant_config();
        let (_dir, p) = crate::testkit::scratch("s.db");
        let store = Store::open(&p).unwrap();
        let row = StoredRefresh {
            nonce: vec![0; 12],
            ciphertext: SEALED.to_vec(),
            logged_in_at: NOW - 86_400,
            issued_at: NOW - 3600,
            expires_at: NOW + left,
            user_name: "Max <max@example.com>".into(),
            scopes: "signature extended organization_read user_read".into(),
            refused: None,
        };
        store.save_refresh("default", &row).unwrap();
        if let Some((at, reason)) = refused {
            assert!(store.mark_refresh_refused("default", &SEALED, at, reason).unwrap());
        }
        let mut list = assess(&cfg, None, Some(&store), NOW).unwrap();
        assert_eq!(list.len(), 1);
        list.remove(0)
    }

    #[test]
    fn the_expiry_warning_starts_seven_days_before() {
        let h = health(6 * 86_400 + 23 * 3600, None);
        assert_eq!(h.problem, None);
        assert_eq!(h.warnings.len(), 1, "{:?}", h.warnings);
        assert!(h.warnings[0].contains("expires in 6d 23h"), "{:?}", h.warnings);
        let h = health(REFRESH_WARNING_SECS, None);
        assert_eq!(h.warnings.len(), 1, "exactly seven days warns: {:?}", h.warnings);
        let h = health(7 * 86_400 + 3600, None);
        assert_eq!((h.problem, h.warnings), (None, Vec::new()));
    }

    #[test]
    fn an_expired_or_refused_refresh_token_is_a_problem() {
        let h = health(-1, None);
        assert!(h.problem.as_deref().is_some_and(|p| p.contains("expired")), "{h:?}");
        // Refused weeks before its expiry: a problem at once, naming the login to run.
        let h = health(20 * 86_400, Some((NOW - 60, "invalid_grant")));
        let p = h.problem.unwrap_or_default();
        assert!(p.contains("refused") && p.contains("invalid_grant"), "{p}");
        assert!(p.contains("auth login --tenant default"), "{p}");
        assert!(h.warnings.is_empty());
        assert!(h.refresh.is_some(), "the token's times are still shown");
    }
}
