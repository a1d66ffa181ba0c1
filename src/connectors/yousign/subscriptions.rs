//! Webhook subscriptions (`[sources.yousign_webhook_subscriptions]`): `GET {base}/webhooks`,
//! the inventory of where the organization's events are pushed. A subscription nobody asked
//! for is itself a signal (events leaking to a third party): each pass reads the whole list,
//! and the collector's snapshot check turns a new or changed subscription into a line. The
//! `secret_key` the list carries is removed before anything else sees the record: it signs
//! the webhooks and must never reach a log, a sink or the state file.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::WebhookSubscriptionsConfig;
use super::{Session, WEBHOOK_SUBSCRIPTIONS};
use crate::core::source::{Page, Paging, Record, SinceStart, Source, Stream, unreadable_cursor};
use crate::error::Error;
use crate::http::ApiError;

/// Fields of a subscription that are secrets.
const SECRET_FIELDS: [&str; 1] = ["secret_key"];

/// The stored cursor: when the last pass ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    last_pass: Option<DateTime<Utc>>,
}

/// Yousign webhook subscriptions.
#[derive(Debug)]
pub struct WebhookSubscriptions {
    session: std::sync::Arc<Session>,
    url: String,
    interval: Duration,
}

impl WebhookSubscriptions {
    /// The source for the API at `base`.
    pub fn new(session: std::sync::Arc<Session>, cfg: &WebhookSubscriptionsConfig, base: &str) -> Self {
        Self { session, url: format!("{}/webhooks", base.trim_end_matches('/')), interval: cfg.interval.get() }
    }
}

fn json(c: &Cursor) -> String {
    serde_json::to_string(c).unwrap_or_default()
}

/// The subscriptions of a reply (a plain array), each without its secret.
fn parse(reply: Value) -> Result<Vec<serde_json::Map<String, Value>>, Error> {
    let bad = |m: &str| -> Error { ApiError::Malformed { what: "Yousign webhooks".into(), message: m.into() }.into() };
    let list = match reply {
        Value::Array(a) => a,
        // A paginated envelope, should the API adopt one.
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Array(a)) => a,
            _ => return Err(bad("the reply is neither a list nor a {data: [...]} page")),
        },
        _ => return Err(bad("the reply is not a list")),
    };
    let mut out = Vec::with_capacity(list.len());
    for v in list {
        let Value::Object(mut m) = v else { return Err(bad("a subscription is not an object")) };
        if !m.get("id").is_some_and(Value::is_string) {
            return Err(bad("a subscription has no string `id`"));
        }
        for f in SECRET_FIELDS {
            m.remove(f);
        }
        out.push(m);
    }
    Ok(out)
}

#[async_trait]
impl Source for WebhookSubscriptions {
    fn kind(&self) -> &'static Stream {
        &WEBHOOK_SUBSCRIPTIONS
    }

    fn start_cursor(&self, _since: Option<DateTime<Utc>>) -> Result<String, Error> {
        Ok(json(&Cursor::default()))
    }

    fn since_start(&self, stored: Option<&str>, _since: DateTime<Utc>) -> Result<SinceStart, Error> {
        let cursor = stored.map_or_else(|| json(&Cursor::default()), str::to_owned);
        Ok(SinceStart::Ignored { cursor, why: "webhook subscriptions are read as a full list every pass" })
    }

    fn paging(&self) -> Paging {
        Paging { page_size: 100, max_per_run: None, prefetch: true }
    }

    fn min_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }

    fn caught_up_at(&self, stored: &str) -> Option<DateTime<Utc>> {
        serde_json::from_str::<Cursor>(stored).ok()?.last_pass
    }

    async fn fetch_page(&self, cursor: &str, _limit: u32) -> Result<Page, Error> {
        let _: Cursor = serde_json::from_str(cursor).map_err(|e| unreadable_cursor(WEBHOOK_SUBSCRIPTIONS.key, &e))?;
        let started = Utc::now();
        let reply = self.session.client.get_json(&self.session.api, "Yousign webhooks", &self.url).await?;
        let records = parse(reply)?;
        Ok(Page {
            records: records.into_iter().map(Record::Object).collect(),
            next: json(&Cursor { last_pass: Some(started) }),
            at_end: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_secret_key_never_leaves_the_reply() {
        let got = parse(json!([{"id": "w1", "endpoint": "https://x", "secret_key": "CANARY"}])).unwrap();
        assert_eq!(Value::Object(got[0].clone()), json!({"id": "w1", "endpoint": "https://x"}));
        assert_eq!(parse(json!({"data": [{"id": "w2"}]})).unwrap().len(), 1);
        assert!(parse(json!([{"endpoint": "no id"}])).is_err());
        assert!(parse(json!("x")).is_err());
    }
}
