//! Unit tests of the generated Monitor rows.

use serde_json::json;

use super::*;

#[test]
fn timestamps_have_seven_digits_or_none() {
    let nanos = 1_677_834_606_051_281_300;
    assert_eq!(format_timestamp(nanos, true), "2023-03-03T09:10:06.0512813Z");
    assert_eq!(format_timestamp(nanos, false), "2023-03-03T09:10:06Z");
}

#[test]
fn rows_are_deterministic_and_complete() {
    let actors = vec!["u1".to_owned(), "u2".to_owned()];
    let ctx = RowContext { seed: 7, account_id: "acc", organization_id: "org", integration_key: "ik", actors: &actors };
    let a = event_row(&ctx, Origin::Backlog(3), 1_700_000_000_000_000_000, Generation::Legacy);
    let b = event_row(&ctx, Origin::Backlog(3), 1_700_000_000_000_000_000, Generation::Legacy);
    assert_eq!(a, b);
    assert_eq!(a.as_object().map(Map::len), Some(34));
    let kinds: std::collections::HashSet<String> =
        (0..400).map(|i| event_row(&ctx, Origin::Backlog(i), 0, Generation::Current)["object"].to_string()).collect();
    assert!(kinds.len() >= 8, "{kinds:?}");
    // An empty directory (`users = 0`) still yields complete rows.
    let empty = RowContext { actors: &[], ..ctx };
    for i in 0..200 {
        let row = event_row(&empty, Origin::Tick(i), 0, Generation::Current);
        assert!(row["userId"].as_str().is_some_and(|u| u.len() == 36));
    }
}

#[test]
fn fast_rendering_is_byte_identical_to_the_json_literal() {
    let actors = vec!["5b7d1f0e-2a34-4c56-8e9f-0a1b2c3d4e5f".to_owned(), "u2".to_owned()];
    let full =
        RowContext { seed: 11, account_id: "acc", organization_id: "org", integration_key: "ik", actors: &actors };
    let empty = RowContext { actors: &[], ..full };
    for ctx in [&full, &empty] {
        for i in 0..600 {
            let origin = match i % 3 {
                0 => Origin::Backlog(i),
                1 => Origin::Tick(i),
                _ => Origin::Appended { seq: i, at: 1_767_225_600_000_000_000 + i.cast_signed() },
            };
            for generation in [Generation::Legacy, Generation::Current] {
                let at = 1_767_225_600_123_456_700 + i.cast_signed() * 1_000_000_007;
                let expected = serde_json::to_vec(&reference_row(ctx, origin, at, generation)).unwrap();
                let mut fast = Vec::new();
                write_row(ctx, origin, at, generation, &mut fast).unwrap();
                assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(expected).unwrap(), "{origin:?}");
                assert_eq!(event_row(ctx, origin, at, generation), reference_row(ctx, origin, at, generation));
            }
        }
    }
}

/// The row as the simulator built it before rendering moved to `row.rs`: a `json!` literal.
/// The fast renderer must produce exactly these bytes.
fn reference_row(ctx: &RowContext<'_>, origin: Origin, ingested_nanos: i64, generation: Generation) -> Value {
    let parts = origin.seed_parts();
    let mut rng = Prng::new(ctx.seed, parts.0, &parts.1);
    // Draw the lateness and fraction choice for both generations so content stays identical.
    let lateness_100ns = i64::try_from(rng.below(3_000_000_000)).unwrap_or(0);
    let fraction = !rng.chance(12);
    let ts = match generation {
        Generation::Legacy => ingested_nanos,
        Generation::Current => ingested_nanos - lateness_100ns * 100,
    };
    let kind = pick_kind(&mut rng);
    let w = what(kind, &mut rng, ctx, parts);
    let actor = pick_user(&mut rng, ctx);
    let org_level = matches!(kind, Kind::Alert) && rng.chance(60);
    let place = rng.pick(PLACES);
    let (user_agent, browser, bver, os, over, device, brand, model) = match w.source {
        "Web" => *rng.pick(WEB_AGENTS),
        "API" => (*rng.pick(API_AGENTS), "Other", ["", "", ""], "Other", ["", ""], "Other", "", ""),
        _ => ("", "Other", ["", "", ""], "Other", ["", ""], "Other", "", ""),
    };
    let integrator_key = match w.source {
        "API" => ctx.integration_key,
        "Web" => "##DOCUSIGN_INTERNAL_NOT_USED##",
        _ => "",
    };
    let (proxy_status, proxy_type, proxy_level) = if place.6 { ("Proxy", "TOR", "High") } else { ("", "", "") };
    let affected = w.affected.clone().unwrap_or_default();
    json!({
        "timestamp": format_timestamp(ts, fraction),
        "eventId": event_id(ctx.seed, origin),
        "site": "DEMO",
        "accountId": if org_level { "" } else { ctx.account_id },
        "organizationId": ctx.organization_id,
        "userId": actor,
        "integratorKey": integrator_key,
        "userAgent": user_agent,
        "userAgentClientInfo": {
            "browser": { "family": browser, "version": { "major": bver[0], "minor": bver[1], "patch": bver[2] } },
            "device": { "family": device, "brand": brand, "model": model },
            "os": { "family": os, "version": { "major": over[0], "minor": over[1], "patch": "" } },
        },
        "ipAddress": place.0,
        "ipAddressLocation": {
            "latitude": place.1, "longitude": place.2, "country": place.3, "state": place.4, "city": place.5,
        },
        "object": w.object,
        "action": w.action,
        "property": w.property,
        "field": w.field,
        "result": w.result,
        "source": w.source,
        "isUserMemberOfDomain": !rng.chance(10),
        "referencedUserIsMemberOfDomain": w.affected.is_some(),
        "referencedUserId": affected,
        "proxyStatus": proxy_status,
        "proxyType": proxy_type,
        "proxyLevel": proxy_level,
        "latitude": place.1,
        "longitude": place.2,
        "city": place.5,
        "state": place.4,
        "country": place.3,
        "device": device,
        "browser": browser,
        "os": os,
        "affectedUserId": affected,
        "affectedUserIsMemberOfDomain": w.affected.is_some(),
        "data": Value::Object(w.data),
    })
}
