//! The simulator's several accounts over real HTTP: each account (and the organization that
//! owns it) has its own quota window and headers, unknown ids are refused as DocuSign refuses
//! them, userinfo lists every account, and a collector run over 20 tenants on 20 accounts
//! stays within each account's small enforced quota where one shared account could not (and,
//! its tenants all being one user's, asks for one token).

#![allow(clippy::unwrap_used, reason = "tests may unwrap: a panic is a failed test")]

mod common;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use esign_sim::docusign::QuotaConfig;
use serde_json::Value;

#[path = "support/sim_http.rs"]
mod sim_http;

/// Every HTTP test finishes well within this, or fails.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A quota of 1,000 per hour and 3 per window, enforced; the window is a day long so a test
/// never straddles two of them (except across midnight UTC).
fn tight() -> QuotaConfig {
    QuotaConfig { per_hour: 1000, burst: 3, burst_window_secs: 86_400, enforce: true, time_scale: 1 }
}

async fn token(h: &sim_http::Served) -> String {
    let assertion = h.assertion("signature impersonation organization_read user_read");
    let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
    let reply: Value =
        h.http.post(format!("{}/oauth/token", h.base)).form(&form).send().await.unwrap().json().await.unwrap();
    reply["access_token"].as_str().unwrap().to_owned()
}

/// Status, the two remaining counters, and the body.
async fn get(h: &sim_http::Served, token: &str, path: &str) -> (u16, Option<u64>, Option<u64>, Value) {
    let resp = h.http.get(format!("{}{path}", h.base)).bearer_auth(token).send().await.unwrap();
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let (hour, burst) = (header("x-ratelimit-remaining"), header("x-burstlimit-remaining"));
    let status = resp.status().as_u16();
    (status, hour, burst, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn each_account_has_its_own_quota() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let h = sim_http::start(|c| {
            c.accounts = 3;
            c.quota = tight();
        })
        .await;
        let accounts = h.sim.accounts();
        assert_eq!(accounts.len(), 3);
        assert_eq!(
            accounts[0],
            (h.cfg.account_id.clone(), h.cfg.organization_id.clone()),
            "account 0 is the configured one"
        );
        let t = token(&h).await;
        let stream = |org: &str| format!("/v1/organizations/{org}/stream?limit=5");
        for left in [2, 1, 0] {
            let (status, hour, burst, _) = get(&h, &t, &stream(&accounts[1].1)).await;
            assert_eq!((status, hour, burst), (200, Some(1000 - 3 + left), Some(left)));
        }
        let (status, _, burst, body) = get(&h, &t, &stream(&accounts[1].1)).await;
        assert_eq!((status, burst), (429, Some(0)), "account 1's burst is spent: {body}");
        assert_eq!(body["error"], "BURST_APIINVOCATION_LIMIT_EXCEEDED");
        // The same account through its eSignature path and its organization's Admin path.
        let esign = format!("/restapi/v2.1/accounts/{}/envelopes?from_date=2020-01-01", accounts[1].0);
        let (status, _, _, body) = get(&h, &t, &esign).await;
        assert_eq!((status, body["errorCode"].as_str()), (429, Some("BURST_APIINVOCATION_LIMIT_EXCEEDED")));
        let admin =
            |i: usize| format!("/management/v2/organizations/{}/users?account_id={}", accounts[i].1, accounts[i].0);
        assert_eq!(get(&h, &t, &admin(1)).await.0, 429);

        // Account 2 (and the default account) still have their whole budget.
        let (status, hour, burst, body) = get(&h, &t, &stream(&accounts[2].1)).await;
        assert_eq!((status, hour, burst), (200, Some(999), Some(2)), "{body}");
        let body2 = body.clone();
        let rows = body["resultData"].as_array().unwrap();
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r["organizationId"] == accounts[2].1.as_str()), "rows carry their organization");
        let (status, _, burst, body) = get(&h, &t, &admin(2)).await;
        assert_eq!((status, burst), (200, Some(1)), "{body}");
        assert_eq!(body["paging"]["total_set_size"], 50, "the shared directory, asked about account 2");
        let groups: Vec<&Value> =
            body["users"].as_array().unwrap().iter().flat_map(|u| u["ds_groups"].as_array().unwrap().iter()).collect();
        assert!(!groups.is_empty(), "{body}");
        assert!(
            groups.iter().all(|g| g["account_id"] == accounts[2].0.as_str()),
            "each user is shown as a member of the asking organization's own account: {body}"
        );
        let esign = format!("/restapi/v2.1/accounts/{}/envelopes?from_date=2020-01-01", accounts[2].0);
        let (status, _, burst, body) = get(&h, &t, &esign).await;
        assert_eq!((status, burst), (200, Some(0)), "{body}");
        let envelopes = body["envelopes"].as_array().unwrap();
        assert!(!envelopes.is_empty() && envelopes.iter().all(|e| e["sender"]["accountId"] == accounts[2].0.as_str()));
        let (status, _, burst, body0) = get(&h, &t, &stream(&accounts[0].1)).await;
        assert_eq!((status, burst), (200, Some(2)));

        // Each account's Monitor rows have their own event ids.
        let ids = |b: &Value| {
            b["resultData"].as_array().unwrap().iter().map(|r| r["eventId"].to_string()).collect::<HashSet<_>>()
        };
        assert!(ids(&body0).is_disjoint(&ids(&body2)), "distinct ids per account");

        let used: Vec<(u64, u64)> = h.sim.stats().accounts.iter().map(|a| (a.requests, a.refused)).collect();
        assert_eq!(used, [(1, 0), (6, 3), (3, 0)], "per-account requests and refusals");
        assert_eq!(h.sim.stats().accounts[2].account_id, accounts[2].0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn unknown_ids_are_refused_and_userinfo_lists_every_account() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let h = sim_http::start(|c| c.accounts = 4).await;
        let accounts = h.sim.accounts();
        let t = token(&h).await;
        let unknown = "00000000-0000-4000-8000-000000000000";
        let (status, _, _, body) = get(&h, &t, &format!("/v1/organizations/{unknown}/stream")).await;
        assert_eq!((status, body["error"].as_str()), (403, Some("Organization does not have Monitor entitlement")));
        // An account id is no organization id.
        assert_eq!(get(&h, &t, &format!("/v1/organizations/{}/stream", accounts[3].0)).await.0, 403);
        let (status, _, _, body) =
            get(&h, &t, &format!("/restapi/v2.1/accounts/{unknown}/envelopes?from_date=2020-01-01")).await;
        assert_eq!((status, body["errorCode"].as_str()), (404, Some("ACCOUNT_LACKS_PERMISSIONS")));
        let (status, _, _, body) =
            get(&h, &t, &format!("/management/v2/organizations/{unknown}/users?account_id={unknown}")).await;
        assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
        // Case does not matter for a known id, as on DocuSign.
        assert_eq!(get(&h, &t, &format!("/v1/organizations/{}/stream", accounts[3].1.to_uppercase())).await.0, 200);

        let (status, _, _, info) = get(&h, &t, "/oauth/userinfo").await;
        assert_eq!(status, 200);
        let listed: Vec<(String, String)> = info["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| {
                Some((a["account_id"].as_str()?.to_owned(), a["organization"]["organization_id"].as_str()?.to_owned()))
            })
            .collect();
        assert_eq!(listed, accounts, "every account with its organization, in order");
        let defaults: Vec<&Value> =
            info["accounts"].as_array().unwrap().iter().filter(|a| a["is_default"] == true).collect();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0]["account_id"], accounts[0].0.as_str());
        let served: Value = h.http.get(format!("{}/_sim/accounts", h.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(served.as_array().unwrap().len(), 4);
        assert_eq!(served[2]["organization_id"], accounts[2].1.as_str());
    })
    .await
    .unwrap();
}

/// One `[[tenants]]` entry `t<i>` per simulated account, all of the simulator's one user.
fn tenant_entries(h: &common::Harness) -> String {
    let mut tenants = String::new();
    for (i, (acc, org)) in h.sim.accounts().iter().enumerate() {
        write!(
            tenants,
            "[[tenants]]\nname = \"t{i}\"\nuser_id = \"{}\"\naccount_id = \"{acc}\"\norganization_id = \"{org}\"\n",
            h.sc.user_id
        )
        .unwrap();
    }
    tenants
}

/// 20 tenants, one per account, against a quota of 8 requests an hour per account, enforced:
/// the run needs more than 8 requests in all, so on one shared account it would wait for the
/// next hour; here every account stays within its own budget and nothing is refused.
#[test]
fn twenty_tenants_on_twenty_accounts_never_wait_for_a_shared_budget() {
    const TENANTS: usize = 20;
    const PER_HOUR: u64 = 8;
    let h = common::Harness::start_with(common::backlog(30), 0, |c| {
        c.accounts = TENANTS;
        c.quota =
            QuotaConfig { per_hour: PER_HOUR, burst: PER_HOUR, burst_window_secs: 30, enforce: true, time_scale: 1 };
    });
    let tenants = tenant_entries(&h);
    // Pages of 10: four Monitor requests per tenant (three pages and the empty end).
    let extra = format!("requests_per_hour = {PER_HOUR}\nburst = {PER_HOUR}\n\n{tenants}");
    h.write_config(&common::Opts { extra, ..common::Opts::default() });
    let text = std::fs::read_to_string(&h.config)
        .unwrap()
        .replace("api = \"org-stream\"\n", "api = \"org-stream\"\npage_size = 10\n");
    std::fs::write(&h.config, text).unwrap();
    let out = h.run(&["fetch", "--all"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));

    let lines = common::lines(&out);
    assert_eq!(lines.len(), TENANTS * 30, "every tenant's whole backlog");
    let ids: HashSet<String> = lines.iter().map(|l| format!("{}/{}", l["_tenant"], l["event_id"])).collect();
    assert_eq!(ids.len(), TENANTS * 30);
    for i in 0..TENANTS {
        assert_eq!(lines.iter().filter(|l| l["_tenant"] == format!("t{i}").as_str()).count(), 30, "tenant t{i}");
    }
    let stats = h.sim.stats();
    assert_eq!(stats.status_429, 0, "no account was ever over its quota");
    let used: Vec<u64> = stats.accounts.iter().map(|a| a.requests).collect();
    assert!(used.iter().all(|&n| (3..=PER_HOUR).contains(&n)), "each account served its own tenant: {used:?}");
    assert!(stats.accounts.iter().all(|a| a.refused == 0));
    let total: u64 = used.iter().sum();
    assert!(total > 4 * PER_HOUR, "one shared account could not have served {total} requests in an hour");
    // One user on every account: its JWT token serves them all, one signed assertion for twenty.
    assert_eq!(stats.token_requests, 1, "the tenants of one user and app share its token");
    // Equal HTTP settings: one client for all twenty, whose connections pass from tenant to
    // tenant (four tenants at a time by default), where one client each opened twenty or more.
    assert!(
        (1..TENANTS as u64 / 2).contains(&stats.connections),
        "the tenants share their HTTP connections: {} for {TENANTS} tenants",
        stats.connections
    );
    let shown = h.run(&["status", "--output", "json"]);
    let doc: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let creds = doc["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), TENANTS, "each tenant's status names the key in use: {doc}");
    assert!(creds.iter().all(|c| c["key_in_use"].as_i64() == Some(1)), "{doc}");

    // A cycle with nothing new moves each cursor over an empty page: no fsync of its own per
    // tenant (it was one each). What is left is the process's own: opening the state file.
    let trace = h.dir.path().join("fsync.trace");
    let idle = assert_cmd::Command::new(common::tool("strace", "strace"))
        .args(["-f", "-qq", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_esign-collector"))
        .arg("--config")
        .arg(&h.config)
        .args(["fetch", "--all"])
        .env_remove("ESIGN_COLLECTOR_CONFIG")
        .timeout(TEST_TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(common::code(&idle), 0, "{}", common::stderr(&idle));
    assert!(common::lines(&idle).is_empty(), "nothing new");
    let syncs = std::fs::read_to_string(&trace).unwrap().lines().filter(|l| l.contains("sync(")).count();
    assert!(syncs < TENANTS / 2, "{syncs} fsyncs for {TENANTS} tenants with nothing new");
}

/// Two tenants of one user share one JWT token, cached under whichever a run built first:
/// `reset-access-token --tenant` for the other one still forgets it.
#[test]
fn resetting_one_tenants_token_forgets_the_token_it_shares() {
    let h = common::Harness::start_with(common::backlog(5), 0, |c| c.accounts = 2);
    h.write_config(&common::Opts { extra: tenant_entries(&h), ..common::Opts::default() });
    assert_eq!(common::code(&h.run(&["fetch", "--all"])), 0);
    assert_eq!(h.sim.stats().token_requests, 1, "one token for both");
    let out = h.run(&["--tenant", "t1", "reset-access-token"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("Forgot 1 cached"), "{said}");
    assert_eq!(common::code(&h.run(&["fetch", "--all"])), 0);
    assert_eq!(h.sim.stats().token_requests, 2, "the shared token was forgotten");
}
