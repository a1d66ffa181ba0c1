//! The read-only eSignature endpoints a Go-Live check calls, under
//! `/restapi/v2.1/accounts/{accountId}`: the account (`AccountInformation`), its users
//! (`UserInformationList`, paged by `count`/`start_position`), groups (`GroupInformation`),
//! permission profiles (`PermissionProfileInformation`), brands (`BrandsResponse`) and
//! settings (`AccountSettingsInformation`), in the `docusign-esign` SDK models' names, with
//! numbers and booleans as strings where those models declare strings.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Simulator;
use super::envelopes::ds_time;
use super::esignature::{EsignError, check};
use super::seed::guid;

/// DocuSign's default and largest `count` for the users list.
const MAX_USERS: usize = 100;
/// (name, type, permission profile index) of the account's groups.
const GROUPS: &[(&str, &str, usize)] = &[
    ("Administrators", "adminGroup", 0),
    ("Everyone", "everyoneGroup", 2),
    ("Sales", "customGroup", 1),
    ("Legal", "customGroup", 1),
];
const PROFILES: &[&str] = &["Account Administrator", "DocuSign Sender", "DocuSign Viewer"];

fn ok(sim: &Simulator, headers: &HeaderMap, account_id: &str, body: impl FnOnce(&Simulator) -> Value) -> Response {
    match check(sim, headers, account_id) {
        Ok(_) => axum::Json(body(sim)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /restapi/v2.1/accounts/{accountId}`: Accounts:get.
pub(super) async fn account(
    State(sim): State<Simulator>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    ok(&sim, &headers, &account_id, |sim| {
        let cfg = &sim.inner.cfg;
        let created = sim.inner.started - chrono::Duration::days(1200);
        let seats = sim.state().directory.len();
        json!({
            "currentPlanId": guid(cfg.seed, "plan", &[]),
            "planName": "DEVCENTER_DEMO_APRIL2013",
            "planClassification": "partner",
            "planStartDate": ds_time(created),
            "planEndDate": "",
            "billingPeriodStartDate": ds_time(sim.inner.started - chrono::Duration::days(10)),
            "billingPeriodEndDate": ds_time(sim.inner.started + chrono::Duration::days(20)),
            "billingPeriodEnvelopesSent": sim.state().envelopes.envelopes().len().to_string(),
            "billingPeriodEnvelopesAllowed": "unlimited",
            "billingPeriodDaysRemaining": "20",
            "canUpgrade": "false",
            "currencyCode": "USD",
            "accountName": "Acme Corporation (Simulated)",
            "connectPermission": "full",
            "docuSignLandingUrl": "http://www.docusign.com/products/sign_up/buy.php",
            "distributorCode": "DEVCENTER_DEMO_APRIL2013",
            "accountIdGuid": cfg.account_id,
            "externalAccountId": "18476542",
            "suspensionStatus": "",
            "paymentMethod": "purchase_order",
            "seatsAllowed": "unlimited",
            "seatsInUse": seats.to_string(),
            "createdDate": ds_time(created),
            "isDowngrade": "false",
            "billingProfile": "web",
            "status21CFRPart11": "not_enabled",
            "allowTransactionRooms": "false",
            "envelopeSendingBlocked": "false",
            "envelopeUnitPrice": "$0.00",
            "useDisplayAppliance": false,
        })
    })
}

fn index(raw: Option<&str>, name: &str) -> Result<Option<usize>, EsignError> {
    match raw {
        None => Ok(None),
        Some(v) => v.parse::<usize>().map(Some).map_err(|_| {
            EsignError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "INVALID_REQUEST_PARAMETER",
                format!("{name} must be a number."),
            )
        }),
    }
}

/// `GET …/users?count=&start_position=`: Users:list.
pub(super) async fn users(
    State(sim): State<Simulator>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(e) = check(&sim, &headers, &account_id) {
        return e.into_response();
    }
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let (count, start) = match (index(get("count"), "count"), index(get("start_position"), "start_position")) {
        (Ok(c), Ok(s)) => (c.unwrap_or(MAX_USERS).clamp(1, MAX_USERS), s.unwrap_or(0)),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let cfg = &sim.inner.cfg;
    let (page, total) = {
        let state = sim.state();
        let all = state.directory.users();
        let page: Vec<Value> = all
            .iter()
            .skip(start)
            .take(count)
            .map(|u| {
                let admin = u.id == cfg.user_id;
                let profile = usize::from(!admin);
                json!({
                    "userName": format!("{} {}", u.first_name, u.last_name),
                    "userId": u.id,
                    "userType": "CompanyUser",
                    "isAdmin": if admin { "True" } else { "False" },
                    "isNAREnabled": "false",
                    "userStatus": if u.user_status == "created" { "activationsent" } else { u.user_status },
                    "uri": format!("/users/{}", u.id),
                    "email": u.email,
                    "createdDateTime": ds_time(u.created_on),
                    "userAddedToAccountDateTime": ds_time(u.created_on),
                    "firstName": u.first_name,
                    "lastName": u.last_name,
                    "jobTitle": "",
                    "company": "Acme Corporation",
                    "permissionProfileId": profile_id(cfg.seed, profile),
                    "permissionProfileName": PROFILES[profile],
                })
            })
            .collect();
        (page, all.len())
    };
    let end = start + page.len();
    let link = |to: usize| format!("/restapi/v2.1/accounts/{}/users?count={count}&start_position={to}", cfg.account_id);
    let body = json!({
        "users": page,
        "resultSetSize": page.len().to_string(),
        "totalSetSize": total.to_string(),
        "startPosition": start.to_string(),
        "endPosition": (i64::try_from(end).unwrap_or(i64::MAX) - 1).to_string(),
        "nextUri": (end < total).then(|| link(end)),
        "previousUri": (start > 0).then(|| link(start.saturating_sub(count))),
    });
    axum::Json(body).into_response()
}

fn profile_id(seed: u64, i: usize) -> String {
    (10_000_000 + guid(seed, "permission-profile", &[i as u64]).bytes().map(u64::from).sum::<u64>() + i as u64)
        .to_string()
}

/// `GET …/groups`: Groups:list.
pub(super) async fn groups(
    State(sim): State<Simulator>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    ok(&sim, &headers, &account_id, |sim| {
        let seed = sim.inner.cfg.seed;
        let users = sim.state().directory.len();
        let groups: Vec<Value> = GROUPS
            .iter()
            .enumerate()
            .map(|(i, (name, kind, profile))| {
                let count = match *kind {
                    "everyoneGroup" => users,
                    "adminGroup" => 1,
                    _ => users / 4,
                };
                json!({
                    "groupId": (8_000_000 + i).to_string(),
                    "groupName": name,
                    "groupType": kind,
                    "permissionProfileId": profile_id(seed, *profile),
                    "usersCount": count.to_string(),
                    "dsGroupId": guid(seed, "ds-group", &[i as u64]),
                })
            })
            .collect();
        json!({
            "groups": groups,
            "resultSetSize": GROUPS.len().to_string(),
            "totalSetSize": GROUPS.len().to_string(),
            "startPosition": "0",
            "endPosition": (GROUPS.len() - 1).to_string(),
        })
    })
}

/// `GET …/permission_profiles`: AccountPermissionProfiles:list.
pub(super) async fn permission_profiles(
    State(sim): State<Simulator>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    ok(&sim, &headers, &account_id, |sim| {
        let seed = sim.inner.cfg.seed;
        let modified = ds_time(sim.inner.started - chrono::Duration::days(90));
        let profiles: Vec<Value> = PROFILES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({
                    "permissionProfileId": profile_id(seed, i),
                    "permissionProfileName": name,
                    "modifiedDateTime": modified,
                    "modifiedByUsername": "Max Example",
                })
            })
            .collect();
        json!({ "permissionProfiles": profiles })
    })
}

/// `GET …/brands`: AccountBrands:list.
pub(super) async fn brands(
    State(sim): State<Simulator>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    ok(&sim, &headers, &account_id, |sim| {
        let id = guid(sim.inner.cfg.seed, "brand", &[0]);
        json!({
            "recipientBrandIdDefault": id,
            "senderBrandIdDefault": id,
            "brands": [{
                "brandCompany": "Acme Corporation",
                "brandId": id,
                "brandName": "Acme default",
                "brandLanguages": ["en"],
                "defaultBrandLanguage": "en",
                "isOrganizationBrand": "false",
                "isOverridingCompanyName": false,
                "isSendingDefault": true,
                "isSigningDefault": true,
            }],
        })
    })
}

/// `GET …/settings`: Accounts:listSettings (a realistic subset).
pub(super) async fn settings(
    State(sim): State<Simulator>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    ok(&sim, &headers, &account_id, |_| {
        json!({
            "accountName": "Acme Corporation (Simulated)",
            "accountDefaultLanguage": "en",
            "allowBulkSend": "true",
            "allowEnvelopeCorrect": "true",
            "allowMarkup": "false",
            "allowReminders": "true",
            "allowSignerReassign": "true",
            "allowOrganizations": "true",
            "allowOrganizationDocusignMonitor": "false",
            "enableAccountWideSearch": "false",
            "documentRetention": "",
            "draftEnvelopeRetention": "",
        })
    })
}
