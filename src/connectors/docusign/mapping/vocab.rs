//! DocuSign's event vocabulary: which family an `object`/`action` pair belongs to, and what
//! that family is in ECS (category, type) and OCSF (class, activity, captions).
//!
//! DocuSign documents no list of Monitor `object`/`action` values. The pairs recognised here
//! are those seen in DocuSign's and integrators' samples (and produced by the simulator), plus
//! verb suffixes (`…Added`, `…Deleted`, `…Updated`) for the rest; whatever is not recognised
//! falls back to OCSF API Activity and ECS category `api`. `docs/mapping.md` lists them.

use serde_json::{Map, Value};

use super::classes::{
    ACCOUNT_CHANGE, API_ACTIVITY, AUTHENTICATION, DETECTION_FINDING, ENTITY_MANAGEMENT, GROUP_MANAGEMENT, OcsfClass,
    USER_ACCESS,
};

/// What a Monitor event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Logins and logoffs: OCSF Authentication.
    Authentication,
    /// A user's lifecycle, password, lock or MFA: OCSF Account Change.
    AccountChange,
    /// A permission profile given to or taken from a user: OCSF User Access Management.
    UserAccess,
    /// Permission profiles and groups: OCSF Group Management.
    GroupManagement,
    /// Settings, templates, integration keys, the account: OCSF Entity Management.
    EntityManagement,
    /// Envelopes and their documents: OCSF API Activity with a typed resource.
    Envelope,
    /// Monitor alerts: OCSF Detection Finding, ECS `event.kind: alert`.
    Alert,
    /// Anything not recognised: OCSF API Activity, ECS category `api`.
    Other,
}

/// The outcome a record states in `result` (or that its action implies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `result` says it worked.
    Success,
    /// `result` (or the action, e.g. `LoginFailed`) says it failed.
    Failure,
    /// Nothing said.
    Unknown,
}

/// How one Monitor event is classified, in both schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Classification {
    pub(crate) family: Family,
    pub(crate) outcome: Outcome,
    pub(crate) ocsf: OcsfClass,
    /// OCSF `activity_id` within `ocsf`; 99 means "Other" and the DocuSign action names it.
    pub(crate) activity_id: u8,
    pub(crate) ecs_kind: &'static str,
    pub(crate) ecs_category: &'static [&'static str],
    pub(crate) ecs_type: &'static [&'static str],
}

/// A generic verb read from an action's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Create,
    Read,
    Update,
    Delete,
    Enable,
    Disable,
    Unknown,
}

/// Whether `s` ends with `suffix`, ASCII case ignored.
fn ends_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len() && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Whether `s` contains `needle`, ASCII case ignored.
fn contains_ci(s: &str, needle: &str) -> bool {
    s.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn any_ci(s: &str, options: &[&str]) -> bool {
    options.iter().any(|o| s.eq_ignore_ascii_case(o))
}

fn verb(action: &str) -> Verb {
    let ends = |suffixes: &[&str]| suffixes.iter().any(|x| ends_ci(action, x));
    // Order matters: "Deactivated" ends with "activated", "Unlocked" with "locked".
    if ends(&["disabled", "deactivated", "closed", "suspended", "disable", "deactivate"]) {
        Verb::Disable
    } else if ends(&["enabled", "activated", "reopened", "enable", "activate"]) {
        Verb::Enable
    } else if ends(&["added", "created", "add", "create"]) {
        Verb::Create
    } else if ends(&["deleted", "removed", "purged", "delete", "remove"]) {
        Verb::Delete
    } else if ends(&["updated", "modified", "changed", "edited", "renamed", "update", "modify", "change"]) {
        Verb::Update
    } else if ends(&["viewed", "read", "downloaded", "exported", "accessed", "listed", "view", "download"]) {
        Verb::Read
    } else {
        Verb::Unknown
    }
}

const fn ecs_type_of(verb: Verb) -> &'static [&'static str] {
    match verb {
        Verb::Create => &["creation"],
        Verb::Delete => &["deletion"],
        Verb::Read => &["access"],
        Verb::Update | Verb::Enable | Verb::Disable => &["change"],
        Verb::Unknown => &["info"],
    }
}

/// The outcome `result` states.
pub(crate) fn outcome_of(result: &str) -> Outcome {
    if any_ci(result, &["Success", "Succeeded", "Successful"]) {
        Outcome::Success
    } else if any_ci(result, &["Failure", "Failed", "Fail", "Denied"]) {
        Outcome::Failure
    } else {
        Outcome::Unknown
    }
}

/// What of a Monitor event's `data` the classification reads: `data.NewValue` (a string, else
/// empty).
pub(crate) fn new_value(data: Option<&Map<String, Value>>) -> &str {
    data.and_then(|d| d.get("NewValue")).and_then(Value::as_str).unwrap_or_default()
}

/// Classifies one Monitor event from its `object`, `action`, `result` and `data.NewValue`
/// (see [`new_value`]).
pub(crate) fn classify(object: &str, action: &str, result: &str, new_value: &str) -> Classification {
    let mut outcome = outcome_of(result);
    let c = move |family, ocsf, activity_id, ecs_category, ecs_type| Classification {
        family,
        outcome,
        ocsf,
        activity_id,
        ecs_kind: "event",
        ecs_category,
        ecs_type,
    };
    let v = verb(action);
    if any_ci(action, &["Login", "Logon", "LogIn", "SignIn", "LoginSuccess", "LoginFailed", "FailedLogin"]) {
        if contains_ci(action, "fail") {
            outcome = Outcome::Failure;
        }
        let category: &[&str] =
            if outcome == Outcome::Failure { &["authentication"] } else { &["authentication", "session"] };
        return Classification { outcome, ..c(Family::Authentication, AUTHENTICATION, 1, category, &["start"]) };
    }
    if any_ci(action, &["Logoff", "Logout", "SignOut"]) {
        return c(Family::Authentication, AUTHENTICATION, 2, &["authentication", "session"], &["end"]);
    }
    if object.eq_ignore_ascii_case("Alert") {
        return Classification {
            ecs_kind: "alert",
            ..c(Family::Alert, DETECTION_FINDING, 1, &["intrusion_detection"], &["info"])
        };
    }
    if any_ci(object, &["PermissionSet", "PermissionProfile"]) {
        let (id, ty): (u8, &[&str]) = match (new_value, v) {
            (_, Verb::Create) => (6, &["group", "creation"]),
            (_, Verb::Delete) => (5, &["group", "deletion"]),
            (n, _) if n.eq_ignore_ascii_case("true") => (1, &["group", "change"]),
            (n, _) if n.eq_ignore_ascii_case("false") => (2, &["group", "change"]),
            _ => (99, &["group", "change"]),
        };
        return c(Family::GroupManagement, GROUP_MANAGEMENT, id, &["iam"], ty);
    }
    if any_ci(object, &["Group", "UserGroup", "SigningGroup"]) {
        let (id, ty) = group_activity(action, v);
        return c(Family::GroupManagement, GROUP_MANAGEMENT, id, &["iam"], ty);
    }
    let user_object = any_ci(object, &["User", "Membership"])
        || (object.eq_ignore_ascii_case("Account") && action.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("User")));
    if user_object && contains_ci(action, "PermissionProfile") {
        let id = if matches!(v, Verb::Delete | Verb::Disable) || contains_ci(action, "Revoked") { 2 } else { 1 };
        return c(Family::UserAccess, USER_ACCESS, id, &["iam"], &["user", "change"]);
    }
    if user_object {
        let id = account_activity(action, v);
        let ty: &[&str] = match id {
            1 => &["user", "creation"],
            6 => &["user", "deletion"],
            _ => &["user", "change"],
        };
        return c(Family::AccountChange, ACCOUNT_CHANGE, id, &["iam"], ty);
    }
    if any_ci(object, &["Envelope", "Document", "EnvelopeDocument"]) {
        let (id, ty): (u8, &[&str]) = if any_ci(action, &["Sent", "Created"]) {
            (1, &["creation"])
        } else if any_ci(action, &["Viewed", "Downloaded", "Printed"]) {
            (2, &["access"])
        } else if any_ci(action, &["Signed", "Completed", "Declined", "Voided", "Corrected", "Resent", "Delivered"]) {
            (3, &["change"])
        } else {
            crud(v)
        };
        return c(Family::Envelope, API_ACTIVITY, id, &["file"], ty);
    }
    let entity =
        any_ci(object, &["Template", "IntegratorKey", "Account", "ConnectConfiguration", "Brand", "PowerForm"])
            || ends_ci(object, "Settings");
    if entity {
        let id = match v {
            Verb::Create => 1,
            Verb::Read => 2,
            Verb::Update => 3,
            Verb::Delete => 4,
            Verb::Enable => 8,
            Verb::Disable => 9,
            Verb::Unknown => 99,
        };
        let category: &[&str] =
            if object.eq_ignore_ascii_case("IntegratorKey") { &["configuration", "iam"] } else { &["configuration"] };
        return c(Family::EntityManagement, ENTITY_MANAGEMENT, id, category, ecs_type_of(v));
    }
    let (id, ty) = crud(v);
    c(Family::Other, API_ACTIVITY, id, &["api"], ty)
}

/// Group Management's activity and the ECS type for an action on a group.
fn group_activity(action: &str, v: Verb) -> (u8, &'static [&'static str]) {
    let ends = |suffixes: &[&str]| suffixes.iter().any(|x| ends_ci(action, x));
    if ends(&["UserAdded", "UsersAdded", "MemberAdded", "MembersAdded"]) {
        (3, &["group", "change"])
    } else if ends(&["UserRemoved", "UsersRemoved", "MemberRemoved", "MembersRemoved"]) {
        (4, &["group", "change"])
    } else {
        match v {
            Verb::Create => (6, &["group", "creation"]),
            Verb::Delete => (5, &["group", "deletion"]),
            _ => (99, &["group", "change"]),
        }
    }
}

/// API Activity's activity and the ECS type for a generic verb.
fn crud(v: Verb) -> (u8, &'static [&'static str]) {
    let id = match v {
        Verb::Create => 1,
        Verb::Read => 2,
        Verb::Update | Verb::Enable | Verb::Disable => 3,
        Verb::Delete => 4,
        Verb::Unknown => 99,
    };
    (id, ecs_type_of(v))
}

/// Account Change's activity for a user action.
fn account_activity(action: &str, v: Verb) -> u8 {
    let mfa = ["TwoFactor", "Mfa", "2FA"].iter().any(|m| contains_ci(action, m));
    if ends_ci(action, "PasswordChanged") || ends_ci(action, "PasswordChange") {
        3
    } else if ends_ci(action, "PasswordReset") {
        4
    } else if ends_ci(action, "Unlocked") {
        12
    } else if ends_ci(action, "Locked") {
        9
    } else if mfa && v == Verb::Enable {
        10
    } else if mfa && v == Verb::Disable {
        11
    } else {
        match v {
            Verb::Create => 1,
            Verb::Enable => 2,
            Verb::Disable => 5,
            Verb::Delete => 6,
            _ => 99,
        }
    }
}

/// `event.action` for an object/action pair: kebab case, the object dropped when the action
/// already starts with it (`Login`/`Login` → `login`, `Envelope`/`Sent` → `envelope-sent`).
pub(crate) fn ecs_action(object: &str, action: &str) -> String {
    let mut out = String::with_capacity(object.len() + action.len() + 4);
    let starts =
        action.len() >= object.len() && action.as_bytes()[..object.len()].eq_ignore_ascii_case(object.as_bytes());
    if !starts {
        kebab_into(object, &mut out);
    }
    kebab_into(action, &mut out);
    out
}

/// Appends `s` in kebab case (`UserAdded` → `user-added`), after a `-` when `out` is not empty.
pub(crate) fn kebab_into(s: &str, out: &mut String) {
    let mut sep = !out.is_empty();
    let mut prev_lower = false;
    for c in s.chars() {
        if !c.is_alphanumeric() {
            sep = !out.is_empty();
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            sep = true;
        }
        if sep {
            out.push('-');
            sep = false;
        }
        out.extend(c.to_lowercase());
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ocsf(object: &str, action: &str, result: &str, data: &Value) -> (u32, u8, Outcome) {
        let c = classify(object, action, result, new_value(data.as_object()));
        (c.ocsf.uid, c.activity_id, c.outcome)
    }

    #[test]
    fn recognised_pairs() {
        let none = json!({});
        assert_eq!(ocsf("Login", "Login", "Success", &none), (3002, 1, Outcome::Success));
        assert_eq!(ocsf("Login", "Login", "Failure", &none), (3002, 1, Outcome::Failure));
        assert_eq!(ocsf("User", "LoginFailed", "", &none), (3002, 1, Outcome::Failure));
        assert_eq!(ocsf("Login", "Logoff", "Success", &none), (3002, 2, Outcome::Success));
        assert_eq!(ocsf("Account", "UserAdded", "", &none).0, 3001);
        assert_eq!(ocsf("Account", "UserClosed", "", &none).1, 5);
        assert_eq!(ocsf("User", "UserReopened", "", &none).1, 2);
        assert_eq!(ocsf("User", "PasswordChanged", "", &none).1, 3);
        assert_eq!(ocsf("User", "AccountUnlocked", "", &none).1, 12);
        assert_eq!(ocsf("User", "AccountLocked", "", &none).1, 9);
        assert_eq!(ocsf("User", "TwoFactorDisabled", "", &none).1, 11);
        assert_eq!(ocsf("User", "Updated", "", &none), (3001, 99, Outcome::Unknown));
        assert_eq!(ocsf("User", "PermissionProfileChanged", "", &none), (3005, 1, Outcome::Unknown));
        assert_eq!(ocsf("PermissionSet", "Updated", "", &json!({"NewValue": "true"})).1, 1);
        assert_eq!(ocsf("PermissionSet", "Updated", "", &json!({"NewValue": "false"})).1, 2);
        assert_eq!(ocsf("Group", "UsersAdded", "", &none), (3006, 3, Outcome::Unknown));
        assert_eq!(ocsf("Group", "GroupDeleted", "", &none).1, 5);
        assert_eq!(ocsf("Template", "Created", "", &none), (3004, 1, Outcome::Unknown));
        assert_eq!(ocsf("IntegratorKey", "RsaKeypairDeleted", "", &none), (3004, 4, Outcome::Unknown));
        assert_eq!(ocsf("AccountSettings", "Updated", "", &none).1, 3);
        assert_eq!(ocsf("Envelope", "Sent", "", &none), (6003, 1, Outcome::Unknown));
        assert_eq!(ocsf("Envelope", "Viewed", "", &none).1, 2);
        assert_eq!(ocsf("Envelope", "Voided", "", &none).1, 3);
        assert_eq!(ocsf("Alert", "MultipleFailedLogins", "", &none).0, 2004);
        assert_eq!(ocsf("Widget", "Frobnicated", "", &none), (6003, 99, Outcome::Unknown));
        assert_eq!(ocsf("Widget", "WidgetDeactivated", "", &none).1, 3);
    }

    #[test]
    fn ecs_categories_follow_the_family() {
        let c = classify("Login", "Login", "Failure", "");
        assert_eq!((c.ecs_category, c.ecs_type), (&["authentication"][..], &["start"][..]));
        let c = classify("Login", "Login", "Success", "");
        assert_eq!(c.ecs_category, &["authentication", "session"]);
        let c = classify("Alert", "BulkEnvelopeDownload", "", "");
        assert_eq!((c.ecs_kind, c.ecs_category), ("alert", &["intrusion_detection"][..]));
        let c = classify("IntegratorKey", "SecretKeyAdded", "", "");
        assert_eq!((c.ecs_category, c.ecs_type), (&["configuration", "iam"][..], &["creation"][..]));
    }

    #[test]
    fn actions_in_kebab_case() {
        assert_eq!(ecs_action("Login", "Login"), "login");
        assert_eq!(ecs_action("Login", "Logoff"), "login-logoff");
        assert_eq!(ecs_action("Account", "UserAdded"), "account-user-added");
        assert_eq!(ecs_action("Alert", "IpAddressOutsideAllowedRanges"), "alert-ip-address-outside-allowed-ranges");
        assert_eq!(ecs_action("", "SSO2Enabled"), "sso2-enabled");
        assert_eq!(ecs_action("Envelope", ""), "envelope");
        assert_eq!(ecs_action("Odd Object", "x_y"), "odd-object-x-y");
    }
}
