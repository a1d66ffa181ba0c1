#!/usr/bin/env python3
"""Checks the esign-collector simulator with Docusign's official Python SDKs.

Uses the SDKs' own ApiClient, API classes and model deserialisation (docusign-monitor 2.x,
docusign-admin 2.x, docusign-esign 5.x), so a field-name or shape mistake in the simulator shows up exactly as a
real integration would see it. Run by tests/sdk_fidelity.rs; exits 0 when every check passes,
1 on a failed check, 3 when the SDK packages are missing. The eSignature models declare no
required fields, so for them "complete" means the names the collector reads are present.

    python3 tests/sdk/check_sdk.py --base http://127.0.0.1:PORT --token T --org ORG --account ACC
"""

import argparse
import datetime
import json
import re
import sys
import urllib.parse

FAILURES = []


def check(ok, message):
    if not ok:
        FAILURES.append(message)
        print("FAIL: " + message, file=sys.stderr)
    return ok


def model_keys(model_cls):
    """JSON names a swagger model declares (attribute_map values)."""
    return set(model_cls().attribute_map.values())


def diff_keys(where, raw, model_cls, required=True):
    """Compares a raw JSON object's keys with the model's declared JSON names."""
    declared = model_keys(model_cls)
    sent = set(raw.keys())
    missing = sorted(declared - sent)
    extra = sorted(sent - declared)
    if required:
        check(not missing, "%s: the SDK model %s declares %s but the simulator did not send them"
              % (where, model_cls.__name__, missing))
    check(not extra, "%s: the simulator sent %s, unknown to the SDK model %s"
          % (where, extra, model_cls.__name__))


class Raw(object):
    """The minimum of a urllib3 response that ApiClient.deserialize needs."""

    def __init__(self, data):
        self.data = data


def check_row_shape(where, raw):
    from docusign_monitor.models import (Browser, Device, IpAddressLocation, Os,
                                         StreamingEventRow, UserAgentClientInfo, Version)
    diff_keys(where, raw, StreamingEventRow)
    info = raw.get("userAgentClientInfo") or {}
    diff_keys(where + ".userAgentClientInfo", info, UserAgentClientInfo)
    diff_keys(where + ".userAgentClientInfo.browser", info.get("browser") or {}, Browser)
    diff_keys(where + ".userAgentClientInfo.browser.version",
              (info.get("browser") or {}).get("version") or {}, Version)
    diff_keys(where + ".userAgentClientInfo.device", info.get("device") or {}, Device)
    diff_keys(where + ".userAgentClientInfo.os", info.get("os") or {}, Os)
    diff_keys(where + ".userAgentClientInfo.os.version",
              (info.get("os") or {}).get("version") or {}, Version)
    diff_keys(where + ".ipAddressLocation", raw.get("ipAddressLocation") or {}, IpAddressLocation)
    check(isinstance(raw.get("data"), dict), where + ".data is not an object")
    check(all(k[:1].isupper() for k in (raw.get("data") or {})), where + ".data keys are not PascalCase")


def check_row_model(where, row):
    """A deserialised StreamingEventRow: required values present, nothing left None."""
    check(bool(row.event_id), where + ": empty event_id")
    check(isinstance(row.timestamp, datetime.datetime), where + ": timestamp did not parse as datetime")
    check(bool(row.object) and bool(row.action), where + ": empty object/action")
    nones = sorted(k for k, v in row.to_dict().items() if v is None)
    check(not nones, where + ": to_dict() has None for %s" % nones)


def page_current(client, org):
    """DocuMonitorApi.stream to the end; returns eventIds in order."""
    import docusign_monitor
    api = docusign_monitor.DocuMonitorApi(client)
    ids, cursor, pages = [], None, 0
    while True:
        kwargs = {"limit": 2000}
        if cursor is not None:
            kwargs["cursor"] = cursor
        resp = api.stream(org, **kwargs)
        check(type(resp).__name__ == "StreamResponse", "stream() did not return a StreamResponse")
        raw = json.loads(client.last_response.data)
        check(set(raw) == {"endCursor", "resultData"}, "current reply keys are %s" % sorted(raw))
        check(bool(resp.end_cursor), "current page without end_cursor")
        rows = resp.result_data or []
        if resp.end_cursor == cursor:
            check(not rows, "the end page (end_cursor == cursor) carried %d rows" % len(rows))
            return ids, pages
        for i, (row, raw_row) in enumerate(zip(rows, raw["resultData"])):
            where = "current page %d row %d" % (pages, i)
            check_row_model(where, row)
            check_row_shape(where, raw_row)
            ids.append(row.event_id)
        cursor, pages = resp.end_cursor, pages + 1
        if not check(pages < 100, "current stream never ended"):
            return ids, pages


def legacy_get_stream(client, cursor, limit):
    """DataSetApi.get_stream as SDK 1.x defines it; SDK 2.x dropped the class, so fall back to
    the exact call it made, through the same ApiClient and CursoredResult model."""
    import docusign_monitor
    if hasattr(docusign_monitor, "DataSetApi"):
        api = docusign_monitor.DataSetApi(client)
        kwargs = {"limit": limit}
        if cursor is not None:
            kwargs["cursor"] = cursor
        return api.get_stream(data_set_name="monitor", version="2.0", **kwargs)
    # SDK 2.x still ships the model file but no longer exports it from docusign_monitor.models.
    from docusign_monitor.models.cursored_result import CursoredResult
    query = {"limit": limit}
    if cursor is not None:
        query["cursor"] = cursor
    return client.call_api(
        "/api/v{version}/datasets/{dataSetName}/stream", "GET",
        {"version": "2.0", "dataSetName": "monitor"}, query,
        {"Accept": client.select_header_accept(["application/json"]),
         "Content-Type": client.select_header_content_type(["application/json"])},
        body=None, post_params=[], files={}, response_type=CursoredResult, auth_settings=[],
        _return_http_data_only=True, _preload_content=True, collection_formats={})


def page_legacy(client):
    ids, cursor, pages = [], None, 0
    while True:
        resp = legacy_get_stream(client, cursor, 2000)
        check(type(resp).__name__ == "CursoredResult", "legacy call did not return a CursoredResult")
        check(bool(resp.end_cursor), "legacy page without end_cursor")
        rows = resp.data or []
        if resp.end_cursor == cursor:
            check(not rows, "the legacy end page carried %d rows" % len(rows))
            return ids, pages
        for i, raw_row in enumerate(rows):
            where = "legacy page %d row %d" % (pages, i)
            row = client.deserialize(Raw(json.dumps(raw_row)), "StreamingEventRow")
            check_row_model(where, row)
            check_row_shape(where, raw_row)
            ids.append(row.event_id)
        cursor, pages = resp.end_cursor, pages + 1
        if not check(pages < 100, "legacy stream never ended"):
            return ids, pages


def check_userinfo(client, base, token):
    from docusign_monitor.client.auth.oauth import OAuthUserInfo
    resp = client.request("GET", base + "/oauth/userinfo", headers={"Authorization": "Bearer " + token})
    info = client.deserialize(resp, OAuthUserInfo)
    check(bool(info.sub) and bool(info.email), "userinfo: empty sub/email")
    # The SDK types is_default as 'str', so JSON true/false arrive as "True"/"False".
    defaults = [a for a in info.accounts or [] if str(a.is_default).lower() == "true"]
    check(len(defaults) == 1, "userinfo: expected exactly one default account")
    if defaults:
        check(bool(defaults[0].organization and defaults[0].organization.organization_id),
              "userinfo: default account without organization_id")
    return defaults[0].account_id if defaults else None


def page_admin(base, token, org, account):
    import docusign_admin
    from docusign_admin.models import DSGroupResponse, OrganizationUserResponse, PagingResponseProperties
    client = docusign_admin.ApiClient(host=base + "/Management")  # the SDK's default base path casing
    client.set_default_header("Authorization", "Bearer " + token)
    api = docusign_admin.UsersApi(client)
    ids, start, total = [], 0, None
    while True:
        resp = api.get_users(org, account_id=account, start=start, take=25)
        raw = json.loads(client.last_response.data)
        diff_keys("admin paging", raw["paging"], PagingResponseProperties)
        paging = resp.paging
        total = paging.total_set_size
        check(paging.result_set_start_position == start, "admin: result_set_start_position != start")
        check(paging.result_set_size == len(resp.users), "admin: result_set_size != len(users)")
        for i, (user, raw_user) in enumerate(zip(resp.users, raw["users"])):
            where = "admin user %d" % (start + i)
            check(bool(user.id) and bool(user.email) and "@" in user.email, where + ": empty id/email")
            check(isinstance(user.created_on, datetime.datetime), where + ": created_on not a datetime")
            diff_keys(where, raw_user, OrganizationUserResponse, required=False)
            for name in ("id", "user_name", "first_name", "last_name", "user_status", "membership_status",
                         "email", "created_on", "membership_created_on", "membership_id", "ds_groups"):
                check(name in raw_user, "%s: %s not sent" % (where, name))
            for g in raw_user.get("ds_groups") or []:
                diff_keys(where + ".ds_groups", g, DSGroupResponse)
            ids.append(user.id)
        if not paging.next:
            break
        nxt = urllib.parse.urlparse(paging.next)
        check(nxt.scheme == "http" and nxt.netloc, "admin: paging.next is not an absolute URL: " + paging.next)
        query = urllib.parse.parse_qs(nxt.query)
        check(query.get("start") == [str(start + 25)], "admin: paging.next does not move start: " + paging.next)
        start += paging.result_set_size
        if not check(start < 10000, "admin paging never ended"):
            break
    check(len(ids) == total and len(set(ids)) == total, "admin: %d ids for total_set_size %s" % (len(ids), total))
    # Options the collector uses: a day-granular change filter and license details.
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    changed = api.get_users(org, account_id=account, last_modified_since=today, take=250)
    check(changed.paging is not None, "admin: last_modified_since reply without paging")
    licensed = api.get_users(org, account_id=account, include_license=True, take=1)
    check(bool(licensed.users and licensed.users[0].license_type), "admin: include_license gave no license_type")
    try:
        api.get_users(org, take=1)
        check(False, "admin: a query without account_id/email/domain was accepted")
    except docusign_admin.ApiException as err:
        body = json.loads(err.body)
        check(err.status == 400 and set(body) == {"error", "error_description"},
              "admin: bad request gave %s %s" % (err.status, body))
        check(bool(err.trace_token), "admin: error reply without X-DocuSign-TraceToken")
    return ids


def esign_keys(where, raw, model_cls, must=()):
    """No name unknown to the eSignature model; the names the collector relies on present."""
    diff_keys(where, raw, model_cls, required=False)
    missing = [m for m in must if m not in raw]
    check(not missing, "%s: %s not sent" % (where, missing))


def check_esign(base, token, account):
    """Pages listStatusChanges and reads audit events and the go-live endpoints with
    docusign-esign's ApiClient and API classes; returns the envelope ids and audited count."""
    import docusign_esign
    from docusign_esign import models as m
    client = docusign_esign.ApiClient(host=base + "/restapi")
    client.set_default_header("Authorization", "Bearer " + token)
    envelopes_api = docusign_esign.EnvelopesApi(client)
    ids, start, audited = [], 0, 0
    while True:
        resp = envelopes_api.list_status_changes(account, from_date="2000-01-01T00:00:00Z", count="25",
                                                 start_position=str(start), include="recipients")
        check(type(resp).__name__ == "EnvelopesInformation", "list_status_changes type")
        raw = json.loads(client.last_response.data)
        esign_keys("envelopes page", raw, m.EnvelopesInformation,
                   ("resultSetSize", "totalSetSize", "startPosition", "endPosition", "nextUri"))
        check(isinstance(resp.result_set_size, str), "resultSetSize is not a string")
        check(bool(client.last_response.getheader("X-DocuSign-TraceToken")), "list reply without a trace token")
        for i, (env, raw_env) in enumerate(zip(resp.envelopes or [], raw.get("envelopes") or [])):
            where = "envelope %d" % (start + i)
            esign_keys(where, raw_env, m.Envelope,
                       ("envelopeId", "status", "statusChangedDateTime", "createdDateTime", "sender", "recipients"))
            esign_keys(where + ".sender", raw_env["sender"], m.UserInfo, ("userName", "userId", "email"))
            recips = raw_env.get("recipients") or {}
            esign_keys(where + ".recipients", recips, m.Recipients, ("signers",))
            for r in recips.get("signers") or []:
                esign_keys(where + ".signers", r, m.Signer, ("recipientId", "email", "status"))
            for r in recips.get("carbonCopies") or []:
                esign_keys(where + ".carbonCopies", r, m.CarbonCopy, ("recipientId", "email", "status"))
            check(bool(env.envelope_id) and env.recipients is not None and env.sender is not None,
                  where + ": did not deserialise")
            check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$", env.status_changed_date_time or ""),
                  where + ": statusChangedDateTime is not DocuSign's 7-decimal form")
            ids.append(env.envelope_id)
            if env.status in ("completed", "declined", "voided") and audited < 5:
                audit = envelopes_api.list_audit_events(account, env.envelope_id)
                raw_audit = json.loads(client.last_response.data)
                esign_keys(where + " audit", raw_audit, m.EnvelopeAuditEventResponse, ("auditEvents",))
                for ev, raw_ev in zip(audit.audit_events or [], raw_audit["auditEvents"]):
                    esign_keys(where + " audit event", raw_ev, m.EnvelopeAuditEvent, ("eventFields",))
                    for f in raw_ev["eventFields"]:
                        esign_keys(where + " audit field", f, m.NameValue, ("name", "value"))
                    names = {f.name for f in ev.event_fields or []}
                    check({"logTime", "Action", "UserName", "ClientIPAddress", "EnvelopeStatus"} <= names,
                          where + ": audit event lacks fields: %s" % sorted(names))
                audited += 1
        if not resp.next_uri:
            break
        start += int(resp.result_set_size)
        if not check(start < 10000, "envelope paging never ended"):
            break
    try:
        envelopes_api.list_status_changes(account, count="5")
        check(False, "a list without from_date was accepted")
    except docusign_esign.ApiException as err:
        body = json.loads(err.body)
        check(err.status == 400 and body.get("errorCode") == "INVALID_REQUEST_PARAMETER",
              "list without from_date gave %s %s" % (err.status, body))
        esign_keys("error body", body, m.ErrorDetails, ("errorCode", "message"))
    accounts_api = docusign_esign.AccountsApi(client)
    info = accounts_api.get_account_information(account)
    esign_keys("account", json.loads(client.last_response.data), m.AccountInformation, ("accountIdGuid", "accountName"))
    check(info.account_id_guid == account, "account: accountIdGuid %s" % info.account_id_guid)
    users = docusign_esign.UsersApi(client).list(account, count="10", start_position="0")
    raw = json.loads(client.last_response.data)
    esign_keys("users", raw, m.UserInformationList, ("users", "resultSetSize", "totalSetSize", "nextUri"))
    for u in raw["users"]:
        esign_keys("user", u, m.UserInformation, ("userId", "userName", "email", "userStatus"))
    check(len(users.users or []) == 10, "users: count=10 gave %d" % len(users.users or []))
    docusign_esign.GroupsApi(client).list_groups(account)
    raw = json.loads(client.last_response.data)
    esign_keys("groups", raw, m.GroupInformation, ("groups",))
    for g in raw["groups"]:
        esign_keys("group", g, m.Group, ("groupId", "groupName", "groupType"))
    accounts_api.list_permissions(account)
    raw = json.loads(client.last_response.data)
    esign_keys("permission profiles", raw, m.PermissionProfileInformation, ("permissionProfiles",))
    for p in raw["permissionProfiles"]:
        esign_keys("permission profile", p, m.PermissionProfile, ("permissionProfileId", "permissionProfileName"))
    accounts_api.list_brands(account)
    raw = json.loads(client.last_response.data)
    esign_keys("brands", raw, m.BrandsResponse, ("brands",))
    for b in raw["brands"]:
        esign_keys("brand", b, m.Brand, ("brandId", "brandName"))
    accounts_api.list_settings(account)
    esign_keys("settings", json.loads(client.last_response.data), m.AccountSettingsInformation, ("accountName",))
    return ids, audited


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="simulator base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", required=True, help="access token with monitor and admin scopes")
    parser.add_argument("--org", required=True, help="organization id")
    parser.add_argument("--account", required=True, help="account id")
    parser.add_argument("--summary", help="write eventIds and user ids seen as JSON to this file")
    args = parser.parse_args()
    try:
        import docusign_admin  # noqa: F401
        import docusign_esign  # noqa: F401
        import docusign_monitor
    except ImportError as err:
        print("MISSING_SDK: %s; run: pip install docusign-monitor docusign-admin docusign-esign" % err, file=sys.stderr)
        return 3

    client = docusign_monitor.ApiClient(host=args.base)
    client.set_default_header("Authorization", "Bearer " + args.token)
    account = check_userinfo(client, args.base, args.token)
    check(account == args.account, "userinfo default account %s != %s" % (account, args.account))
    current, current_pages = page_current(client, args.org)
    legacy, legacy_pages = page_legacy(client)
    check(current, "the current stream returned no events")
    check(len(set(current)) == len(current), "the current stream repeated an eventId")
    check(current == legacy, "the two generations disagree on events or order")
    users = page_admin(args.base, args.token, args.org, args.account)
    envelopes, audited = check_esign(args.base, args.token, args.account)
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump({"current": current, "legacy": legacy, "users": users, "envelopes": envelopes}, f)
    print("sdk check: %d events (%d+%d pages), %d users, %d envelopes (%d audited), %d failures"
          % (len(current), current_pages, legacy_pages, len(users), len(envelopes), audited, len(FAILURES)))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
