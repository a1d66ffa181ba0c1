use std::path::Path;

use super::*;

/// The smallest valid configuration; it ends inside `[docusign]`, so keys appended to it
/// land there. Also the base of the other config modules' tests.
pub(super) const MINIMAL: &str = r#"
[docusign]
environment = "developer"
integration_key = "ik"
user_id = "u"
private_key_file = "key.pem"
organization_id = "org"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

/// The error `text` is refused with.
fn refused(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn minimal_config_takes_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.sources.customer_events.max_events_per_fetch, None, "no cap: a run drains the stream");
    assert_eq!(c.sources.user_data.max_users_per_fetch, None);
    assert_eq!(c.state.max_run_time.get(), std::time::Duration::from_secs(240));
    assert_eq!(c.sources.customer_events.api, MonitorApi::OrgStream);
    assert!(!c.sources.user_data.enabled);
    assert_eq!(c.scopes(), vec!["signature", "impersonation"]);
    assert_eq!(c.burst(), 200);
}

#[test]
fn out_of_range_names_key_and_line() {
    let e = refused(&format!("{MINIMAL}\n[sources.customer_events]\nmax_events_per_fetch = 5000\n"));
    assert!(e.contains("must be 1..=2000, got 5000"), "{e}");
    assert!(e.contains("line 10"), "{e}");
    assert!(e.contains("max_events_per_fetch"), "{e}");
}

#[test]
fn unknown_key_is_refused() {
    let e = refused(&format!("{MINIMAL}\n[sources.customer_events]\nmax_evnts = 5\n"));
    assert!(e.contains("unknown field `max_evnts`"), "{e}");
}

#[test]
fn wrong_type_is_refused() {
    let e = refused(&format!("{MINIMAL}\n[sources.user_data]\nenabled = \"yes\"\n"));
    assert!(e.contains("invalid type"), "{e}");
}

#[test]
fn user_data_needs_account_and_scopes() {
    let e = refused(&format!("{MINIMAL}\n[sources.user_data]\nenabled = true\n"));
    assert!(e.contains("docusign.account_id"), "{e}");
    let text = MINIMAL
        .replace("[docusign]", "[docusign]\naccount_id = \"a\"\nscopes = [\"signature\", \"impersonation\"]")
        + "\n[sources.user_data]\nenabled = true\n";
    let e = refused(&text);
    assert!(e.contains("lacks `organization_read`"), "{e}");
}

#[test]
fn key_source_is_required_once() {
    let e = parse(&MINIMAL.replace("private_key_file = \"key.pem\"", "")).unwrap_err();
    assert!(e.to_string().contains("docusign.private_key_file"));
    let e = parse(&MINIMAL.replace("private_key_file", "private_key_env = \"K\"\nprivate_key_file")).unwrap_err();
    assert!(e.to_string().contains("choose one"));
}

#[test]
fn key_credential_is_exclusive_and_a_plain_name() {
    let cred =
        |name: &str| MINIMAL.replace("private_key_file = \"key.pem\"", &format!("private_key_credential = {name:?}"));
    let c = parse(&cred("docusign-key")).unwrap();
    assert_eq!(c.docusign().private_key_credential.as_deref(), Some("docusign-key"));
    for bad in ["", ".", "..", "keys/docusign-key", "/etc/key.pem"] {
        let e = refused(&cred(bad));
        assert!(e.contains("docusign.private_key_credential") && e.contains("plain file name"), "{bad}: {e}");
    }
    let both = MINIMAL.replace("private_key_file", "private_key_credential = \"k\"\nprivate_key_file");
    let e = refused(&both);
    assert!(e.contains("docusign.private_key_credential") && e.contains("choose one"), "{e}");
}

#[test]
fn production_hosts_and_burst() {
    let c = parse(&MINIMAL.replace("developer", "production")).unwrap();
    assert_eq!(c.burst(), 500);
    assert_eq!(c.docusign().environment.auth_base(), "https://account.docusign.com");
    assert_eq!(Environment::Developer.monitor_base(MonitorApi::V2), "https://lens-d.docusign.net");
    assert_eq!(Environment::Developer.admin_base(), "https://api-d.docusign.net/management");
}

const SHARED: &str = r#"
[docusign]
environment = "production"
integration_key = "shared-ik"
private_key_file = "key.pem"
"#;

#[test]
fn without_tenants_there_is_one_called_default() {
    let c = parse(MINIMAL).unwrap();
    let t = c.tenants();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].name, DEFAULT_TENANT);
    assert!(!t[0].named);
    assert_eq!(t[0].cfg.docusign().user_id.as_deref(), Some("u"));
}

#[test]
fn tenants_inherit_and_override_docusign() {
    let text = format!(
        "{SHARED}\n[[tenants]]\nname = \"acme\"\nuser_id = \"u1\"\norganization_id = \"o1\"\n\n\
         [[tenants]]\nname = \"globex\"\nuser_id = \"u2\"\norganization_id = \"o2\"\nintegration_key = \"own\"\n\
         private_key_env = \"GLOBEX_KEY\"\nenvironment = \"developer\"\n"
    );
    let c = parse(&text).unwrap();
    let all = c.tenants();
    assert_eq!(all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["acme", "globex"]);
    let (acme, g) = (all[0].cfg.docusign(), all[1].cfg.docusign());
    assert_eq!(acme.integration_key.as_deref(), Some("shared-ik"));
    assert_eq!(acme.private_key_file.as_deref(), Some(Path::new("key.pem")));
    assert_eq!(acme.environment, Environment::Production);
    assert_eq!(g.integration_key.as_deref(), Some("own"));
    // A tenant's key source replaces the shared one instead of conflicting with it.
    assert_eq!(g.private_key_file, None);
    assert_eq!(g.private_key_env.as_deref(), Some("GLOBEX_KEY"));
    assert_eq!(g.environment, Environment::Developer);
    assert!(all.iter().all(|t| t.named && t.cfg.tenants.is_empty()));
    assert_eq!(c.select_tenants(Some("globex")).unwrap()[0].name, "globex");
    let e = c.select_tenants(Some("initech")).unwrap_err().to_string();
    assert!(e.contains("--tenant") && e.contains("acme, globex"), "{e}");
}

#[test]
fn a_tenants_key_source_replaces_every_key_source_of_docusign() {
    let shared = SHARED.replace("private_key_file = \"key.pem\"", "private_key_credential = \"docusign-key\"");
    let one = |name: &str, key: &str| {
        format!("[[tenants]]\nname = \"{name}\"\nuser_id = \"u\"\norganization_id = \"o\"\n{key}\n")
    };
    let text = format!(
        "{shared}\n{}\n{}\n{}",
        one("file", "private_key_file = \"acme.pem\""),
        one("env", "private_key_env = \"ENV_KEY\""),
        one("shared", ""),
    );
    let c = parse(&text).unwrap();
    let all = c.tenants();
    let keys = |i: usize| {
        let d = all[i].cfg.docusign();
        (d.private_key_file.clone(), d.private_key_env.clone(), d.private_key_credential.clone())
    };
    assert_eq!(keys(0), (Some("acme.pem".into()), None, None));
    assert_eq!(keys(1), (None, Some("ENV_KEY".into()), None));
    assert_eq!(keys(2), (None, None, Some("docusign-key".into())));
    // And a tenant's credential replaces [docusign]'s file.
    let text = format!("{SHARED}\n{}", one("cred", "private_key_credential = \"cred-key\""));
    let c = parse(&text).unwrap();
    let tenants = c.tenants();
    let d = tenants[0].cfg.docusign();
    assert_eq!((d.private_key_file.as_deref(), d.private_key_credential.as_deref()), (None, Some("cred-key")));
    // Two sources within one tenant are still refused, named under the tenant.
    let text = format!("{SHARED}\n{}", one("two", "private_key_file = \"a.pem\"\nprivate_key_env = \"K\""));
    let e = refused(&text);
    assert!(e.contains("tenants[0].private_key_env") && e.contains("choose one"), "{e}");
}

#[test]
fn a_tenant_missing_a_required_key_is_named() {
    let text = format!("{SHARED}\n[[tenants]]\nname = \"acme\"\nuser_id = \"u1\"\n");
    let e = refused(&text);
    assert!(e.contains("tenants[0].organization_id") && e.contains("\"acme\""), "{e}");
}

#[test]
fn tenant_names_are_unique_and_plain() {
    let one = "[[tenants]]\nname = \"acme\"\nuser_id = \"u\"\norganization_id = \"o\"\n";
    let e = refused(&format!("{SHARED}\n{one}\n{one}"));
    assert!(e.contains("tenants[1].name") && e.contains("unique"), "{e}");
    let e = refused(&format!("{SHARED}\n[[tenants]]\nname = \"../x\"\nuser_id = \"u\"\n"));
    assert!(e.contains("invalid tenant name") && e.contains("line"), "{e}");
    let e = refused(&format!("{SHARED}\n[[tenants]]\nname = \"a\"\nusr_id = \"u\"\n"));
    assert!(e.contains("unknown field `usr_id`"), "{e}");
}

#[test]
fn interval_under_a_minute_is_refused_with_the_reason() {
    let e = refused(&format!("{MINIMAL}\n[state]\ninterval = \"30s\"\n"));
    assert!(e.contains("state.interval") && e.contains("once a minute"), "{e}");
    assert!(parse(&format!("{MINIMAL}\n[state]\ninterval = \"60s\"\n")).is_ok());
    let e = refused(&format!("{MINIMAL}\n[state]\nmax_run_time = \"0s\"\n"));
    assert!(e.contains("state.max_run_time"), "{e}");
}

#[test]
fn envelopes_need_the_account_and_a_fifteen_minute_interval() {
    let e = refused(&format!("{MINIMAL}\n[sources.envelopes]\nenabled = true\n"));
    assert!(e.contains("docusign.account_id"), "{e}");
    let text = MINIMAL.replace("[docusign]", "[docusign]\naccount_id = \"a\"")
        + "\n[sources.envelopes]\nenabled = true\ninterval = \"5m\"\n";
    let e = refused(&text);
    assert!(e.contains("sources.envelopes.interval") && e.contains("polling rules"), "{e}");
    let e = refused(&format!("{MINIMAL}\n[sources.envelopes]\npage_size = 5000\n"));
    assert!(e.contains("1..=1000"), "{e}");
    let ok = MINIMAL
        .replace("[docusign]", "[docusign]\naccount_id = \"a\"\nesignature_base_url = \"https://na3.docusign.net\"")
        + "\n[sources.envelopes]\nenabled = true\naudit_events = true\n";
    let cfg = parse(&ok).unwrap();
    assert!(cfg.source_enabled("envelopes") && cfg.source_enabled("envelope_audit"));
}

/// `[docusign]` for the code grant, reading Admin users (Monitor needs the JWT grant).
const CODE_GRANT: &str = r#"
[sources.customer_events]
enabled = false
[sources.user_data]
enabled = true

[docusign]
environment = "developer"
integration_key = "ik"
auth = "authorization_code"
account_id = "acc"
organization_id = "org"
"#;

#[test]
fn the_code_grant_needs_no_user_or_key_and_asks_for_extended() {
    let c = parse(CODE_GRANT).unwrap();
    assert_eq!(c.docusign().auth, AuthFlow::AuthorizationCode);
    assert_eq!(c.scopes(), vec!["signature", "extended", "organization_read", "user_read"]);
    let with_secret = format!("{CODE_GRANT}client_secret_env = \"S\"\n");
    assert_eq!(parse(&with_secret).unwrap().docusign().client_secret_env.as_deref(), Some("S"));
    let two = format!("{CODE_GRANT}client_secret_env = \"S\"\nclient_secret_file = \"s\"\n");
    let e = refused(&two);
    assert!(e.contains("docusign.client_secret_file") && e.contains("choose one"), "{e}");
    let e = refused(&format!("{CODE_GRANT}client_secret_credential = \"a/b\"\n"));
    assert!(e.contains("plain file name"), "{e}");
    // Monitor customer events need the JWT grant; so does the demo environment.
    let e = refused(&CODE_GRANT.replace("enabled = false", "enabled = true"));
    assert!(e.contains("docusign.auth") && e.contains("JWT Authentication Grant"), "{e}");
    let e = refused(&CODE_GRANT.replace("\"developer\"", "\"demo\""));
    assert!(e.contains("demo environment"), "{e}");
    // Explicit scopes must still hold what the flow needs.
    let e = refused(&format!("{CODE_GRANT}scopes = [\"signature\", \"organization_read\", \"user_read\"]\n"));
    assert!(e.contains("lacks `extended`"), "{e}");
}

#[test]
fn one_config_mixes_both_flows_per_tenant() {
    let text = format!(
        "{CODE_GRANT}\n[[tenants]]\nname = \"jwt\"\nauth = \"jwt\"\nuser_id = \"u\"\nprivate_key_files = [\"new.pem\", \"old.pem\"]\n\n\
         [[tenants]]\nname = \"login\"\nclient_secret_env = \"LOGIN_SECRET\"\n"
    );
    let c = parse(&text).unwrap();
    let t = c.tenants();
    assert_eq!(t[0].cfg.docusign().auth, AuthFlow::Jwt);
    assert_eq!(t[0].cfg.docusign().private_key_files.len(), 2);
    assert_eq!(t[0].cfg.scopes(), vec!["signature", "impersonation", "organization_read", "user_read"]);
    assert_eq!(t[1].cfg.docusign().auth, AuthFlow::AuthorizationCode);
    assert_eq!(t[1].cfg.docusign().client_secret_env.as_deref(), Some("LOGIN_SECRET"));
    // A JWT tenant still needs its user and a key.
    let e = refused(&text.replace("user_id = \"u\"\n", ""));
    assert!(e.contains("tenants[0].user_id"), "{e}");
}

#[test]
fn several_keys_are_one_key_source() {
    let e = refused(&format!("{MINIMAL}private_key_files = [\"a.pem\"]\n"));
    assert!(e.contains("docusign.private_key_files") && e.contains("choose one"), "{e}");
    let list = MINIMAL.replace("private_key_file = \"key.pem\"", "private_key_credentials = [\"new\", \"old\"]");
    assert_eq!(parse(&list).unwrap().docusign().private_key_credentials, ["new", "old"]);
    let e = refused(&MINIMAL.replace("private_key_file = \"key.pem\"", "private_key_credentials = [\"../x\"]"));
    assert!(e.contains("docusign.private_key_credentials") && e.contains("plain file name"), "{e}");
}

/// A Yousign-only configuration (no `[docusign]`).
const YOUSIGN: &str = r#"
[sources.yousign_signature_requests]
enabled = true

[yousign]
environment = "sandbox"
api_key_env = "YS_KEY"
"#;

#[test]
fn yousign_alone_is_a_configuration_and_its_mistakes_are_named() {
    let c = parse(YOUSIGN).unwrap();
    assert!(c.docusign.is_none());
    let t = c.tenants();
    assert_eq!((t.len(), t[0].name.as_str(), t[0].vendor), (1, "yousign", Vendor::Yousign));
    assert_eq!(c.yousign.as_ref().unwrap().limits(), (30, 200), "sandbox limits by default");
    let e = refused(&YOUSIGN.replace("api_key_env = \"YS_KEY\"", ""));
    assert!(e.contains("yousign.api_key_env") && e.contains("read-only"), "{e}");
    let e = refused(&format!("{YOUSIGN}api_key_file = \"k\"\n"));
    assert!(e.contains("yousign.api_key_file") && e.contains("choose one"), "{e}");
    let e = refused(&format!("{YOUSIGN}api_token = \"x\"\n"));
    assert!(e.contains("api_token"), "an unknown key is named: {e}");
    let e = refused(&YOUSIGN.replace("enabled = true", "enabled = true\ninterval = \"5m\""));
    assert!(e.contains("sources.yousign_signature_requests.interval") && e.contains("polling"), "{e}");
    let e = refused(&YOUSIGN.replace("enabled = true", "enabled = false"));
    assert!(e.contains("enables no source"), "{e}");
    let e = refused("[state]\npath = \"x.db\"\n");
    assert!(e.contains("[docusign]") && e.contains("[yousign]"), "{e}");
    let e = refused(&format!("{YOUSIGN}\n[[tenants]]\nname = \"acme\"\n"));
    assert!(e.contains("tenants") && e.contains("needs [docusign]"), "{e}");
}

#[test]
fn the_yousign_receiver_needs_its_secret_or_for_v2_basic_auth() {
    let with = |table: &str| format!("{YOUSIGN}\n[receivers.yousign]\nlisten = \"127.0.0.1:0\"\n{table}");
    assert!(parse(&with("secret_env = \"S\"")).is_ok());
    let e = refused(&with(""));
    assert!(e.contains("receivers.yousign.secret_env") && e.contains("X-Yousign-Signature-256"), "{e}");
    let e = refused(&with("api_version = \"v2\""));
    assert!(e.contains("receivers.yousign.basic_auth_user") && e.contains("unsigned"), "{e}");
    assert!(parse(&with("api_version = \"v2\"\nbasic_auth_user = \"ys\"\nbasic_auth_password_env = \"P\"")).is_ok());
    let e = refused(&with(
        "api_version = \"v2\"\nsecret_env = \"S\"\nbasic_auth_user = \"ys\"\nbasic_auth_password_env = \"P\"",
    ));
    assert!(e.contains("receivers.yousign.secret_env") && e.contains("not signed"), "{e}");
    let e = refused(&with("secret_env = \"S\"\npath = \"/a/{b}\""));
    assert!(e.contains("receivers.yousign.path"), "{e}");
    // Receivers alone are a configuration.
    let only =
        "[yousign]\nenvironment = \"demo\"\n\n[receivers.yousign]\nlisten = \"127.0.0.1:0\"\nsecret_env = \"S\"\n";
    assert!(parse(only).is_ok());
}
