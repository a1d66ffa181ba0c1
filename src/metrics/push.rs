//! The push path's metrics: requests by receiver and outcome (each refusal reason its own
//! outcome), messages stored, absorbed and delivered, and messages from accounts no tenant has.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// `receiver` and `outcome` (`accepted`, `unauthorized`, `malformed`, `too_large`,
/// `unsupported_media`, `timeout`, `unavailable`, `failed`, `not_found`, `method_not_allowed`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    receiver: String,
    outcome: &'static str,
}

/// `receiver` and `result` of a message (`stored`, `duplicate`, `delivered`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    receiver: String,
    result: &'static str,
}

/// `receiver` and `account`: the sender's account no tenant has.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    receiver: String,
    account: String,
}

/// `tenant`: whose polling found a gap in what its sender pushed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

/// `receiver`: a sender's redelivery (Yousign's `X-Yousign-Retry` > 0).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiverLabels {
    receiver: String,
}

struct PushFamilies {
    requests: Family<OutcomeLabels, Counter>,
    redeliveries: Family<ReceiverLabels, Counter>,
    messages: Family<MessageLabels, Counter>,
    unrouted: Family<AccountLabels, Counter>,
    gaps: Family<TenantLabels, Counter>,
}

static PUSH: LazyLock<PushFamilies> = LazyLock::new(|| PushFamilies {
    requests: Family::default(),
    redeliveries: Family::default(),
    messages: Family::default(),
    unrouted: Family::default(),
    gaps: Family::default(),
});

/// Registers the push families in `r` (once, when the registry is built).
pub(super) fn register(r: &mut Registry) {
    r.register(
        "esign_push_redeliveries",
        "Verified pushed requests the sender marked as a retry of an earlier delivery",
        PUSH.redeliveries.clone(),
    );
    r.register(
        "esign_push_requests",
        "Pushed requests by receiver and outcome (accepted, or the refusal's reason)",
        PUSH.requests.clone(),
    );
    r.register(
        "esign_push_messages",
        "Pushed messages by result (stored in the inbox, duplicate absorbed, delivered to every sink)",
        PUSH.messages.clone(),
    );
    r.register(
        "esign_push_unrouted_messages",
        "Pushed messages from an account no tenant has (delivered without _tenant)",
        PUSH.unrouted.clone(),
    );
    r.register(
        "esign_connect_gaps",
        "Transitions polling found that the push sender (DocuSign Connect) never delivered, emitted from polling",
        PUSH.gaps.clone(),
    );
}

/// One request to `receiver` ended with `outcome`.
pub fn push_request(receiver: &str, outcome: &'static str) {
    PUSH.requests.get_or_create(&OutcomeLabels { receiver: receiver.to_owned(), outcome }).inc();
}

/// `n` messages of `receiver` took the way `result`.
pub fn push_messages(receiver: &str, result: &'static str, n: u64) {
    if n > 0 {
        PUSH.messages.get_or_create(&MessageLabels { receiver: receiver.to_owned(), result }).inc_by(n);
    }
}

/// A verified request of `receiver` the sender marked as a redelivery.
pub fn push_redelivery(receiver: &str) {
    PUSH.redeliveries.get_or_create(&ReceiverLabels { receiver: receiver.to_owned() }).inc();
}

/// A message of `receiver` came from `account`, which no tenant has.
pub fn push_unrouted(receiver: &str, account: &str) {
    PUSH.unrouted.get_or_create(&AccountLabels { receiver: receiver.to_owned(), account: account.to_owned() }).inc();
}

/// The count so far of `receiver`'s requests with `outcome` (tests, `status`).
pub fn push_requests(receiver: &str, outcome: &'static str) -> u64 {
    PUSH.requests.get_or_create(&OutcomeLabels { receiver: receiver.to_owned(), outcome }).get()
}

/// Polling found `n` transitions of `tenant` that its sender never pushed (each counted once).
pub fn connect_gaps(tenant: &str, n: u64) {
    if n > 0 {
        PUSH.gaps.get_or_create(&TenantLabels { tenant: tenant.to_owned() }).inc_by(n);
    }
}
