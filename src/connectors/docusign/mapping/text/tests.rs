//! The text path against its reference, the tree mappings: generated Monitor lines over every
//! family the vocabulary knows must give the same documents (same fields, same values, same
//! key order), in both formats, with and without the original line.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::connectors::docusign::mapping::event as tree;
use crate::connectors::docusign::mapping::ocsf::INTERNAL_KEY;
use crate::format::{Format, FormatOptions};

/// `object`/`action` pairs reaching every family and activity `vocab.rs` tells apart.
const PAIRS: &[(&str, &str)] = &[
    ("Login", "Login"),
    ("Login", "Logoff"),
    ("User", "LoginFailed"),
    ("User", "Logout"),
    ("Account", "UserAdded"),
    ("Account", "UserClosed"),
    ("User", "UserReopened"),
    ("User", "UserDeleted"),
    ("User", "PasswordChanged"),
    ("User", "PasswordReset"),
    ("User", "AccountUnlocked"),
    ("User", "AccountLocked"),
    ("User", "TwoFactorEnabled"),
    ("User", "TwoFactorDisabled"),
    ("User", "Updated"),
    ("User", "PermissionProfileChanged"),
    ("Membership", "PermissionProfileRevoked"),
    ("PermissionSet", "Updated"),
    ("PermissionProfile", "Created"),
    ("PermissionProfile", "Deleted"),
    ("Group", "UsersAdded"),
    ("Group", "MemberRemoved"),
    ("Group", "GroupDeleted"),
    ("Group", "GroupCreated"),
    ("SigningGroup", "Renamed"),
    ("Template", "Created"),
    ("Template", "Viewed"),
    ("IntegratorKey", "RsaKeypairDeleted"),
    ("IntegratorKey", "SecretKeyAdded"),
    ("AccountSettings", "Updated"),
    ("Account", "Frobbed"),
    ("Brand", "Enabled"),
    ("PowerForm", "Disabled"),
    ("Envelope", "Sent"),
    ("Envelope", "Viewed"),
    ("Envelope", "Voided"),
    ("Envelope", "Frobbed"),
    ("Document", "Downloaded"),
    ("EnvelopeDocument", "Purged"),
    ("Alert", "MultipleFailedLogins"),
    ("Alert", ""),
    ("Widget", "Frobnicated"),
    ("Widget", "WidgetDeactivated"),
    ("", ""),
    ("", "SSO2Enabled"),
    ("Envelope", ""),
    ("Odd Object", "x_y"),
];

/// A string with what a writer must get right: quotes, backslashes, control characters,
/// non-ASCII; sometimes empty.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9._@-]{1,10}",
        1 => "[a-zé\"\\\\\n\t\u{1} ✓]{0,6}",
        1 => Just(String::new()),
    ]
}

/// Any JSON value, blanks included.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => text().prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::from),
        1 => (-1.0e6f64..1.0e6).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => Just(json!({})),
        1 => Just(json!([])),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec(("[a-z]{1,4}", inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A string-ish field value: mostly a string, sometimes any value.
fn field() -> impl Strategy<Value = Value> {
    prop_oneof![4 => text().prop_map(Value::String), 1 => value()]
}

/// A user id or email from a small pool (so that ids repeat across fields), or any field.
fn ident() -> impl Strategy<Value = Value> {
    prop_oneof![3 => proptest::sample::select(&["u1", "u2", "a@example.com"][..]).prop_map(Value::from), 1 => field()]
}

/// A number-ish coordinate.
fn coordinate() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (-90.0f64..90.0).prop_map(Value::from),
        1 => (-90i64..90).prop_map(Value::from),
        1 => value(),
    ]
}

/// The fields of `keys` each present or not, with values from `value`.
fn some_of(keys: &'static [&'static str], value: BoxedStrategy<Value>) -> BoxedStrategy<Vec<(String, Value)>> {
    proptest::collection::vec(proptest::option::weighted(0.5, value), keys.len())
        .prop_map(move |vs| {
            keys.iter().zip(vs).filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), v))).collect::<Vec<_>>()
        })
        .boxed()
}

fn data() -> BoxedStrategy<Value> {
    const KEYS: &[&str] = &[
        "FailureReason",
        "VoidedReason",
        "PermissionProfileId",
        "PermissionProfileName",
        "GroupId",
        "GroupName",
        "TemplateId",
        "TemplateName",
        "KeyId",
        "AppName",
        "EnvelopeId",
        "EnvelopeSubject",
        "Extra",
    ];
    let special = (
        proptest::option::of(prop_oneof![Just(json!("true")), Just(json!("false")), field()]),
        proptest::option::of(prop_oneof![
            Just(json!("low")),
            Just(json!("High")),
            Just(json!("critical")),
            Just(json!("Info")),
            field()
        ]),
        proptest::option::of(prop_oneof![Just(json!("jwt")), Just(json!("SAML")), Just(json!("oidc")), field()]),
        proptest::option::of(prop_oneof![
            proptest::collection::vec(prop_oneof![text().prop_map(Value::String), value()], 0..4)
                .prop_map(Value::Array),
            value()
        ]),
        proptest::option::of(prop_oneof![Just(json!("3")), Just(json!(3)), field()]),
    );
    prop_oneof![
        6 => (some_of(KEYS, field().boxed()), special, some_of(&["AffectedUserId"], ident().boxed())).prop_map(|(mut kv, (nv, sev, login, ids, count), target)| {
            kv.extend(target);
            for (k, v) in [("NewValue", nv), ("Severity", sev), ("LoginType", login), ("EventIds", ids), ("Count", count)] {
                kv.extend(v.map(|v| (k.to_owned(), v)));
            }
            Value::Object(kv.into_iter().collect())
        }),
        1 => value(),
    ]
    .boxed()
}

fn user() -> BoxedStrategy<Value> {
    const KEYS: &[&str] = &["user_name", "first_name", "last_name", "user_status", "membership_status", "extra"];
    let group = prop_oneof![
        (proptest::option::of(field()), proptest::option::of(field()), proptest::option::of(any::<bool>())).prop_map(
            |(id, name, admin)| {
                let mut g = Map::new();
                g.extend(id.map(|v| ("id".to_owned(), v)));
                g.extend(name.map(|v| ("name".to_owned(), v)));
                g.extend(admin.map(|v| ("is_admin".to_owned(), Value::Bool(v))));
                Value::Object(g)
            }
        ),
        (field(), field()).prop_map(|(id, name)| json!({"ds_group_id": id, "group_name": name})),
        value(),
    ];
    let groups = proptest::option::of((
        prop_oneof![Just("groups"), Just("ds_groups")],
        prop_oneof![4 => proptest::collection::vec(group, 0..4).prop_map(Value::Array), 1 => value()],
    ));
    prop_oneof![
        6 => (some_of(&["id", "email"], ident().boxed()), some_of(KEYS, field().boxed()), groups).prop_map(|(mut kv, rest, groups)| {
            kv.extend(rest);
            kv.extend(groups.map(|(k, v)| (k.to_owned(), v)));
            Value::Object(kv.into_iter().collect())
        }),
        1 => value(),
    ]
    .boxed()
}

fn location() -> BoxedStrategy<Vec<(String, Value)>> {
    (some_of(&["city", "state", "country"], field().boxed()), some_of(&["latitude", "longitude"], coordinate().boxed()))
        .prop_map(|(mut a, b)| {
            a.extend(b);
            a
        })
        .boxed()
}

fn client_info() -> BoxedStrategy<Value> {
    let family = prop_oneof![Just(json!("Other")), field()];
    let version = some_of(&["major", "minor", "patch"], field().boxed())
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
        .boxed();
    let part =
        (proptest::option::of(family), proptest::option::of(prop_oneof![version, value()])).prop_map(|(f, v)| {
            let mut m = Map::new();
            m.extend(f.map(|f| ("family".to_owned(), f)));
            m.extend(v.map(|v| ("version".to_owned(), v)));
            Value::Object(m)
        });
    prop_oneof![
        4 => proptest::collection::vec(proptest::option::of(part), 3).prop_map(|parts| {
            let m: Map<String, Value> = ["browser", "os", "device"]
                .iter()
                .zip(parts)
                .filter_map(|(k, p)| p.map(|p| ((*k).to_owned(), p)))
                .collect();
            Value::Object(m)
        }),
        1 => value(),
    ]
    .boxed()
}

/// One Monitor line as normalization writes it (keys in any order), as JSON text.
fn line() -> impl Strategy<Value = String> {
    const PLAIN: &[&str] = &[
        "eventId",
        "timestamp",
        "accountId",
        "organizationId",
        "ipAddress",
        "userAgent",
        "proxyStatus",
        "proxyType",
        "proxyLevel",
        "field",
        "property",
        "source",
        "device",
        "browser",
        "os",
        "siteId",
        "_tenant",
    ];
    const FLAGS: &[&str] = &["isUserMemberOfDomain", "affectedUserIsMemberOfDomain", "referencedUserIsMemberOfDomain"];
    const OURS: &[&str] = &["_time", "source_log_type", "vendor", "product", "_collected_at", "event_id"];
    let times =
        prop_oneof![Just(json!("2026-11-23T12:00:00.123Z")), Just(json!("2023-03-03T09:10:06.0512813Z")), field()];
    (
        proptest::sample::select(PAIRS),
        proptest::option::of(prop_oneof![
            Just(json!("Success")),
            Just(json!("Failure")),
            Just(json!("Failed")),
            Just(json!("Denied")),
            field()
        ]),
        (
            some_of(PLAIN, field().boxed()),
            some_of(&["userId", "userEmail", "affectedUserId", "referencedUserId"], ident().boxed()),
        ),
        some_of(FLAGS, prop_oneof![any::<bool>().prop_map(Value::Bool), value()].boxed()),
        some_of(OURS, times.boxed()),
        (proptest::option::of(data()), proptest::option::of(user())),
        (
            location(),
            proptest::option::of(
                prop_oneof![3 => location().prop_map(|l| Value::Object(l.into_iter().collect())), 1 => value()],
            ),
            proptest::option::of(client_info()),
            proptest::option::of(prop_oneof![Just(json!(INTERNAL_KEY)), field()]),
        ),
        any::<u8>(),
    )
        .prop_flat_map(
            |((object, action), result, (plain, ids), flags, ours, (data, user), (flat, nested, info, key), style)| {
                let mut kv: Vec<(String, Value)> =
                    vec![("object".into(), json!(object)), ("action".into(), json!(action))];
                kv.extend(result.map(|r| ("result".to_owned(), r)));
                kv.extend(plain);
                kv.extend(ids);
                kv.extend(flags);
                kv.extend(flat);
                kv.extend(data.map(|d| ("data".to_owned(), d)));
                kv.extend(nested.map(|n| ("ipAddressLocation".to_owned(), n)));
                kv.extend(info.map(|i| ("userAgentClientInfo".to_owned(), i)));
                kv.extend(key.map(|k| ("integratorKey".to_owned(), k)));
                let tail: Vec<(String, Value)> =
                    ours.into_iter().chain(user.map(|u| ("_user".to_owned(), u))).collect();
                (Just(kv).prop_shuffle(), Just(tail), Just(style))
            },
        )
        .prop_map(|(mut kv, tail, style)| {
            kv.extend(tail);
            let m: Map<String, Value> = kv.into_iter().collect();
            let compact = serde_json::to_string(&m).unwrap();
            match style % 3 {
                0 => compact,
                // Line breaks and spaces between tokens, escaped non-ASCII: what the text path
                // must read as the tree does.
                1 => serde_json::to_string_pretty(&m).unwrap(),
                _ => compact.replace('é', "\\u00e9").replace('✓', "\\u2713"),
            }
        })
}

/// Takes the original line out of a document (ECS `event.original`, OCSF `raw_data`).
fn take_original(doc: &mut Value) -> Option<Value> {
    match doc.get_mut("event").and_then(Value::as_object_mut) {
        Some(ev) => ev.remove("original"),
        None => doc.as_object_mut()?.remove("raw_data"),
    }
}

/// Renders `json` both ways and asserts the documents are the same.
fn same(format: Format, json: &str, include_original: bool) -> Result<(), TestCaseError> {
    let opts = FormatOptions { include_original };
    let raw: Map<String, Value> = serde_json::from_str(json).unwrap();
    let mut expected = Value::Object(tree(format, &raw, opts).remove(0).value);
    let mut out = String::from("before|");
    prop_assert!(super::event(format, json, opts, &mut out), "text path refused {}", json);
    let rendered = out.strip_prefix("before|").unwrap();
    prop_assert!(!rendered.contains('\n'));
    let mut got: Value = serde_json::from_str(rendered).unwrap();
    let (want_original, got_original) = (take_original(&mut expected), take_original(&mut got));
    prop_assert_eq!(want_original.is_some(), include_original);
    prop_assert_eq!(got_original.is_some(), include_original);
    if let (Some(Value::String(w)), Some(Value::String(g))) = (want_original, got_original) {
        let (w, g): (Value, Value) = (serde_json::from_str(&w).unwrap(), serde_json::from_str(&g).unwrap());
        prop_assert_eq!(w, g);
    }
    prop_assert_eq!(&got, &expected);
    // The same key order too.
    prop_assert_eq!(got.to_string(), expected.to_string());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn text_path_equals_tree_path(json in line(), include_original in any::<bool>()) {
        same(Format::Ecs, &json, include_original)?;
        same(Format::Ocsf, &json, include_original)?;
    }
}

#[test]
fn lines_the_tree_reads_differently_are_refused() {
    let opts = FormatOptions::default();
    for json in [
        r#"{"object": "Login", "action": "Login", "action": "Logoff"}"#,
        r#"{"data": {"GroupId": "a", "GroupId": "b"}, "object": "Group", "action": "GroupCreated"}"#,
        r#"{"\u006fbject": "Login"}"#,
        r#"{"object": "Login", "proxy": "x"}"#,
        r#"{"object": "Login", "data": {"a": 1, "a": 2}}"#,
        r#"{"object": "Login", "_user": {"is_member_of_domain": true}}"#,
        "[1]",
        "{",
    ] {
        let mut out = String::from("kept");
        assert!(!super::event(Format::Ecs, json, opts, &mut out), "{json}");
        assert_eq!(out, "kept");
    }
    let mut out = String::new();
    assert!(!super::event(Format::Raw, r#"{"object": "Login"}"#, opts, &mut out));
    assert!(out.is_empty());
}

#[test]
fn a_plain_login_is_rendered() {
    let json = r#"{"eventId":"e1","timestamp":"2026-11-23T12:00:00Z","object":"Login","action":"Login","result":"Success","userId":"u1","ipAddress":"10.0.0.1","_time":"2026-11-23T12:00:00Z","event_id":"e1"}"#;
    same(Format::Ecs, json, true).unwrap();
    same(Format::Ocsf, json, false).unwrap();
    let mut out = String::new();
    assert!(super::event(Format::Ocsf, json, FormatOptions::default(), &mut out));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["class_uid"], 3002);
    assert_eq!(v["user"]["uid"], "u1");
}
