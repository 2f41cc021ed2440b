#!/usr/bin/env python3
"""Conformance of the HubSpot sandbox with HubSpot's official Python client.

Calls every HubSpot endpoint the sync service uses, on both path families (2026-03 and
legacy), with the bodies our client sends, and parses each answer with the model HubSpot's
SDK (`hubspot-api-client`) generates for it: the SDK's own deserialiser with client-side
validation on (required fields, enums, date-times). On top of that, every JSON value is
checked against the model's declared type (a number where the model says string fails) and
every key against the model's fields (a field the model does not know fails, unless the
reference documents it for that model: DOCUMENTED_EXTRA).

Usage: hubspot_conformance.py --base URL --client-id ID --client-secret SECRET
Prints one line per call and a summary `conformance: N answers parsed, F parse failures`;
exits 1 when F > 0.
"""

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import dateutil.parser
import hubspot.crm.associations.v4 as assoc_v4
import hubspot.crm.lists as crm_lists
import hubspot.events.send as events_send
import hubspot.crm.objects as objects
import hubspot.crm.pipelines as pipelines
import hubspot.crm.properties as properties
import hubspot.oauth as oauth

FAMILIES = {
    "2026-03": {
        "objects": "/crm/objects/2026-03",
        "properties": "/crm/properties/2026-03",
        "oauth": "/oauth/2026-03",
        "associations": "/crm/objects/2026-03",
        "lists": "/crm/lists/2026-03",
        "events": "/events/2026-03",
    },
    "legacy": {
        "objects": "/crm/v3/objects",
        "properties": "/crm/v3/properties",
        "oauth": "/oauth/v3",
        "associations": "/crm/v4/objects",
        "lists": "/crm/v3/lists",
        "events": "/events/v3",
    },
}
# No date-versioned pipelines path is published: both families read the legacy one.
PIPELINES = "/crm/v3/pipelines/deals"
# Fields HubSpot documents that the SDK's model lacks, by model (reference/hubspot.md):
# v3/2026-03 token and introspection answers (§1: AccessTokenResponse, PublicAccessTokenInfo-
# Response; the SDK's models are the v1-era ones), the RFC 6749 and legacy fields of OAuth
# errors (§1) and `status` of every error body (§6).
DOCUMENTED_EXTRA = {
    "TokenResponseIF": {"token_use", "hub_id", "user_id", "scopes", "id_token"},
    "AccessTokenInfoResponse": {"active", "client_id", "token_use", "is_private_distribution",
                                "signed_access_token"},
    "Error": {"status", "error", "error_description"},
}


def strict_configuration(pkg):
    """The SDK ships with client-side validation off; strict mode turns it on, also for the
    models the deserialiser builds with the default configuration."""
    cfg = pkg.Configuration()
    cfg.client_side_validation = True
    pkg.Configuration.set_default(cfg)
    return cfg


class Raw:
    """What the SDK's ApiClient.deserialize reads from a response."""

    def __init__(self, data):
        self.data = data


def http(method, url, body=None, form=None, token=None):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def strict(data, klass, models, path):
    """Type and key problems of `data` against the SDK type name `klass`."""
    if data is None:
        return []  # absence; the SDK itself rejects None for required fields
    m = re.fullmatch(r"list\[(.*)\]", klass)
    if m:
        if not isinstance(data, list):
            return [f"{path}: expected a list, got {json.dumps(data)[:60]}"]
        return [p for i, v in enumerate(data) for p in strict(v, m.group(1), models, f"{path}[{i}]")]
    m = re.fullmatch(r"dict\(([^,]*), (.*)\)", klass) or re.fullmatch(r"dict\[([^,]*), (.*)\]", klass)
    if m:
        if not isinstance(data, dict):
            return [f"{path}: expected an object, got {json.dumps(data)[:60]}"]
        return [p for k, v in data.items() for p in strict(v, m.group(2), models, f"{path}.{k}")]
    checks = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "datetime": lambda v: isinstance(v, str) and bool(dateutil.parser.isoparse(v)),
        "date": lambda v: isinstance(v, str),
        "object": lambda v: True,
    }
    if klass in checks:
        try:
            ok = checks[klass](data)
        except ValueError:
            ok = False
        return [] if ok else [f"{path}: expected {klass}, got {json.dumps(data)[:60]}"]
    model = getattr(models, klass)
    if not isinstance(data, dict):
        return [f"{path}: expected {klass} object, got {json.dumps(data)[:60]}"]
    by_json = {v: k for k, v in model.attribute_map.items()}
    extra = DOCUMENTED_EXTRA.get(klass, set())
    problems = []
    for key, value in data.items():
        if key not in by_json:
            if key not in extra:
                problems.append(f"{path}.{key}: not a field of {klass}")
            continue
        problems += strict(value, model.openapi_types[by_json[key]], models, f"{path}.{key}")
    return problems


class Conformance:
    def __init__(self, base, client_id, client_secret):
        self.base = base.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.parsed = 0
        self.failures = []

    def check(self, label, status, raw, pkg, klass, expect):
        """Parses one answer with the SDK model `klass` of package `pkg`."""
        problems = []
        if status not in expect:
            problems.append(f"HTTP {status}, expected {sorted(expect)}: {raw[:200]!r}")
        client = pkg.ApiClient(strict_configuration(pkg))
        obj = None
        try:
            obj = client.deserialize(Raw(raw), klass)
            problems += strict(json.loads(raw), klass, pkg.models, "$")
        except Exception as e:  # the SDK raises ValueError/TypeError on a bad answer
            problems.append(f"SDK: {type(e).__name__}: {e}")
        self.parsed += 1
        mark = "ok  " if not problems else "FAIL"
        print(f"{mark} {label} -> {status} {klass}")
        for p in problems:
            print(f"       {p}")
            self.failures.append(f"{label}: {p}")
        return obj, (json.loads(raw) if raw else None)

    def expect(self, label, cond, detail):
        """A property of an answer that the models cannot express."""
        if not cond:
            print(f"FAIL {label}: {detail}")
            self.failures.append(f"{label}: {detail}")

    def run_family(self, name, p):
        b = self.base
        o, pr, oa, asc = p["objects"], p["properties"], p["oauth"], p["associations"]
        tag = f"[{name}]"

        # OAuth: consent, code exchange, refresh, introspection, a bad grant.
        q = urllib.parse.urlencode({"client_id": self.client_id, "redirect_uri": "http://localhost/cb",
                                    "scope": "oauth", "state": "s"})
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(f"{b}/oauth/authorize?{q}")
            raise SystemExit("authorize did not redirect")
        except urllib.error.HTTPError as e:
            location = e.headers["location"]
        code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
        app = {"client_id": self.client_id, "client_secret": self.client_secret}
        st, raw, _ = http("POST", f"{b}{oa}/token", form={"grant_type": "authorization_code", "code": code,
                                                          "redirect_uri": "http://localhost/cb", **app})
        _, tok = self.check(f"{tag} POST {oa}/token (code)", st, raw, oauth, "TokenResponseIF", {200})
        st, raw, _ = http("POST", f"{b}{oa}/token", form={"grant_type": "refresh_token",
                                                          "refresh_token": tok["refresh_token"], **app})
        _, tok = self.check(f"{tag} POST {oa}/token (refresh)", st, raw, oauth, "TokenResponseIF", {200})
        token = tok["access_token"]
        st, raw, _ = http("POST", f"{b}{oa}/token/introspect",
                          form={"token": token, "token_type_hint": "access_token", **app})
        self.check(f"{tag} POST {oa}/token/introspect", st, raw, oauth, "AccessTokenInfoResponse", {200})
        st, raw, _ = http("POST", f"{b}{oa}/token", form={"grant_type": "refresh_token",
                                                          "refresh_token": "never-issued", **app})
        self.check(f"{tag} POST {oa}/token (bad refresh)", st, raw, oauth, "Error", {400})

        # Properties and groups (schema setup and config validation).
        group = f"pendo_{name.replace('-', '_')}"
        st, raw, _ = http("GET", f"{b}{pr}/contacts", token=token)
        self.check(f"{tag} GET {pr}/contacts", st, raw, properties, "CollectionResponsePropertyNoPaging", {200})
        st, raw, _ = http("GET", f"{b}{pr}/contacts/groups/{group}", token=token)
        self.check(f"{tag} GET {pr}/contacts/groups/{{name}} (absent)", st, raw, properties, "Error", {404})
        st, raw, _ = http("POST", f"{b}{pr}/contacts/groups", token=token,
                          body={"name": group, "label": "Pendo", "displayOrder": -1})
        self.check(f"{tag} POST {pr}/contacts/groups", st, raw, properties, "PropertyGroup", {201})
        st, raw, _ = http("GET", f"{b}{pr}/contacts/groups/{group}", token=token)
        self.check(f"{tag} GET {pr}/contacts/groups/{{name}}", st, raw, properties, "PropertyGroup", {200})
        uid, cat = f"{group}_id", f"{group}_category"
        inputs = [
            {"name": uid, "label": "Id", "type": "string", "fieldType": "text", "groupName": group,
             "hasUniqueValue": True},
            {"name": cat, "label": "Category", "type": "enumeration", "fieldType": "select", "groupName": group,
             "description": "d", "options": [{"label": "Promoter", "value": "promoter", "displayOrder": 0,
                                              "hidden": False},
                                             {"label": "Passive", "value": "passive", "displayOrder": 1,
                                              "hidden": False}]},
        ]
        st, raw, _ = http("POST", f"{b}{pr}/contacts/batch/create", token=token, body={"inputs": inputs})
        self.check(f"{tag} POST {pr}/contacts/batch/create", st, raw, properties, "BatchResponseProperty", {201})
        st, raw, _ = http("POST", f"{b}{pr}/contacts/batch/create", token=token, body={"inputs": inputs})
        self.check(f"{tag} POST {pr}/contacts/batch/create (exists)", st, raw, properties,
                   "BatchResponsePropertyWithErrors", {207})
        st, raw, _ = http("GET", f"{b}{pr}/contacts", token=token)
        _, body = self.check(f"{tag} GET {pr}/contacts (with ours)", st, raw, properties,
                             "CollectionResponsePropertyNoPaging", {200})
        enum = next(x for x in body["results"] if x["name"] == cat)
        self.expect(f"{tag} enumeration options", all("hidden" in x and "displayOrder" in x for x in enum["options"]),
                    f"options lack hidden/displayOrder: {enum['options']}")

        # Batch writes and reads (push), search (pull).
        a, c = f"{name}-a", f"{name}-b"
        st, raw, _ = http("POST", f"{b}{o}/contacts/batch/upsert", token=token, body={"inputs": [
            {"id": a, "idProperty": uid, "properties": {cat: "promoter"}, "objectWriteTraceId": a},
            {"id": c, "idProperty": uid, "properties": {}, "objectWriteTraceId": c}]})
        _, up = self.check(f"{tag} POST {o}/contacts/batch/upsert", st, raw, objects,
                           "BatchResponseSimplePublicUpsertObject", {200})
        ids = {r["properties"][uid]: r["id"] for r in up["results"]}
        st, raw, _ = http("POST", f"{b}{o}/contacts/batch/upsert", token=token, body={"inputs": [
            {"id": a, "idProperty": uid, "properties": {cat: "fan"}, "objectWriteTraceId": a}]})
        self.check(f"{tag} POST {o}/contacts/batch/upsert (bad value)", st, raw, objects,
                   "BatchResponseSimplePublicUpsertObjectWithErrors", {207})
        st, raw, _ = http("POST", f"{b}{o}/contacts/batch/update", token=token, body={"inputs": [
            {"id": ids[a], "properties": {cat: "passive"}, "objectWriteTraceId": ids[a]}]})
        self.check(f"{tag} POST {o}/contacts/batch/update", st, raw, objects, "BatchResponseSimplePublicObject", {200})
        st, raw, _ = http("POST", f"{b}{o}/contacts/batch/update", token=token, body={"inputs": [
            {"id": "999999999", "properties": {cat: "passive"}, "objectWriteTraceId": "999999999"}]})
        self.check(f"{tag} POST {o}/contacts/batch/update (missing)", st, raw, objects,
                   "BatchResponseSimplePublicObjectWithErrors", {207})
        st, raw, _ = http("POST", f"{b}{o}/contacts/batch/read", token=token, body={
            "properties": [uid, cat, "jobtitle"], "propertiesWithHistory": [], "idProperty": uid,
            "inputs": [{"id": a}, {"id": c}, {"id": "nobody"}]})
        _, rd = self.check(f"{tag} POST {o}/contacts/batch/read (one missing)", st, raw, objects,
                           "BatchResponseSimplePublicObjectWithErrors", {207})
        unset = next(r for r in rd["results"] if r["properties"].get(uid) == c)["properties"]
        self.expect(f"{tag} unset requested property", "jobtitle" in unset and unset["jobtitle"] is None,
                    f"expected \"jobtitle\": null, got {unset}")
        st, raw, _ = http("POST", f"{b}{o}/contacts/batch/read", token=token, body={
            "properties": [cat], "propertiesWithHistory": [], "inputs": [{"id": ids[a]}]})
        self.check(f"{tag} POST {o}/contacts/batch/read (by id)", st, raw, objects,
                   "BatchResponseSimplePublicObject", {200})
        search = {"filterGroups": [{"filters": [
            {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"},
            {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": [uid, cat], "limit": 200}
        st, raw, _ = http("POST", f"{b}{o}/contacts/search", token=token, body=search)
        self.check(f"{tag} POST {o}/contacts/search", st, raw, objects,
                   "CollectionResponseWithTotalSimplePublicObjectForwardPaging", {200})

        # Rules: pipelines, deal and task creation with associations, stage update, association reads.
        st, raw, _ = http("GET", f"{b}{PIPELINES}", token=token)
        _, pl = self.check(f"{tag} GET {PIPELINES}", st, raw, pipelines, "CollectionResponsePipelineNoPaging", {200})
        trial = next(x for x in pl["results"] if x["id"] == "trial")
        st, raw, _ = http("POST", f"{b}{o}/companies/batch/create", token=token, body={"inputs": [
            {"properties": {"name": f"Acme {name}"}, "objectWriteTraceId": "co"}]})
        _, co = self.check(f"{tag} POST {o}/companies/batch/create", st, raw, objects,
                           "BatchResponseSimplePublicObject", {201})
        company = co["results"][0]["id"]
        st, raw, _ = http("POST", f"{b}{o}/deals", token=token, body={
            "properties": {"dealname": "Trial", "pipeline": "trial", "dealstage": trial["stages"][0]["id"]},
            "associations": [{"to": {"id": company}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}]}]})
        _, deal = self.check(f"{tag} POST {o}/deals", st, raw, objects, "SimplePublicObject", {201})
        st, raw, _ = http("PATCH", f"{b}{o}/deals/{deal['id']}", token=token,
                          body={"properties": {"dealstage": trial["stages"][1]["id"]}})
        self.check(f"{tag} PATCH {o}/deals/{{id}}", st, raw, objects, "SimplePublicObject", {200})
        st, raw, _ = http("POST", f"{b}{o}/tasks", token=token, body={
            "properties": {"hs_timestamp": "2026-12-01T09:00:00Z", "hs_task_subject": "Call"},
            "associations": [{"to": {"id": ids[a]}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]})
        _, task = self.check(f"{tag} POST {o}/tasks", st, raw, objects, "SimplePublicObject", {201})
        for frm, fid, to, want in [("companies", company, "deals", (deal["id"], 342)),
                                   ("deals", deal["id"], "companies", (company, 341)),
                                   ("contacts", ids[a], "tasks", (task["id"], 203))]:
            st, raw, _ = http("GET", f"{b}{asc}/{frm}/{fid}/associations/{to}?limit=500", token=token)
            _, got = self.check(f"{tag} GET {asc}/{frm}/{{id}}/associations/{to}", st, raw, assoc_v4,
                                "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging", {200})
            pairs = [(r["toObjectId"], t["typeId"]) for r in got["results"] for t in r["associationTypes"]]
            self.expect(f"{tag} {frm}->{to} association type", list(pairs) == [want],
                        f"expected [{want}], got {pairs}")

        # Segments: a MANUAL contact list found by name or created, members added and removed.
        ls = p["lists"]
        lname = f"Pendo power users {name}"
        by_name = f"{b}{ls}/object-type-id/0-1/name/{urllib.parse.quote(lname)}"
        st, raw, _ = http("GET", by_name, token=token)
        self.check(f"{tag} GET {ls}/object-type-id/0-1/name/{{name}} (absent)", st, raw, crm_lists, "Error", {404})
        st, raw, _ = http("POST", f"{b}{ls}", token=token,
                          body={"name": lname, "objectTypeId": "0-1", "processingType": "MANUAL"})
        _, created = self.check(f"{tag} POST {ls}", st, raw, crm_lists, "ListCreateResponse", {200})
        st, raw, _ = http("GET", by_name, token=token)
        self.check(f"{tag} GET {ls}/object-type-id/0-1/name/{{name}}", st, raw, crm_lists, "ListFetchResponse", {200})
        lid = created["list"]["listId"]
        st, raw, _ = http("PUT", f"{b}{ls}/{lid}/memberships/add-and-remove", token=token,
                          body={"recordIdsToAdd": [ids[a], "999999999"], "recordIdsToRemove": []})
        _, mem = self.check(f"{tag} PUT {ls}/{{id}}/memberships/add-and-remove", st, raw, crm_lists,
                            "MembershipsUpdateResponse", {200})
        self.expect(f"{tag} list membership answer", mem and mem.get("recordIdsMissing") == ["999999999"]
                    and mem.get("recordsIdsAdded") == [ids[a]], f"{mem}")
        st, raw, _ = http("PUT", f"{b}{ls}/{lid}/memberships/add-and-remove", token=token,
                          body={"recordIdsToAdd": [], "recordIdsToRemove": [ids[a]]})
        _, mem = self.check(f"{tag} PUT {ls}/{{id}}/memberships/add-and-remove (remove)", st, raw, crm_lists,
                            "MembershipsUpdateResponse", {200})
        self.expect(f"{tag} list removal answer", mem and mem.get("recordIdsRemoved") == [ids[a]], f"{mem}")

        # Custom events (§7b). The SDK has no model for event definitions: their answers are
        # checked field by field; send errors parse as the send API's Error.
        ev = p["events"]
        ename = f"pendo_conformance_{name.replace('-', '_')}"
        st, raw, _ = http("POST", f"{b}{ev}/event-definitions", token=token, body={
            "name": ename, "label": "Conformance", "description": "d", "primaryObject": "CONTACT",
            "propertyDefinitions": [{"name": "pendo_event_count", "label": "Count", "type": "number"}]})
        d = json.loads(raw) if raw else {}
        self.expect(f"{tag} POST {ev}/event-definitions", st == 201 and d.get("name") == ename
                    and d.get("fullyQualifiedName", "").endswith("_" + ename), f"{st} {raw[:200]!r}")
        st, raw, _ = http("GET", f"{b}{ev}/event-definitions?limit=100", token=token)
        listed = json.loads(raw).get("results", []) if st == 200 else []
        self.expect(f"{tag} GET {ev}/event-definitions", any(x.get("name") == ename for x in listed),
                    f"{st} {raw[:200]!r}")
        occurrence = {"eventName": d.get("fullyQualifiedName"), "objectId": ids[a],
                      "occurredAt": "2026-11-29T00:00:00Z", "properties": {"pendo_event_count": "3"},
                      "uuid": f"6f1c2b1e-0c7e-5d6a-9b1f-00000000000{len(name) % 10}"}
        for attempt in ("", " (replay)"):
            st, raw, _ = http("POST", f"{b}{ev}/send/batch", token=token, body={"inputs": [occurrence]})
            self.expect(f"{tag} POST {ev}/send/batch{attempt}", st == 204 and not raw, f"{st} {raw[:200]!r}")
        bad = dict(occurrence, properties={"pendo_event_count": "x" * 51})
        st, raw, _ = http("POST", f"{b}{ev}/send/batch", token=token, body={"inputs": [bad]})
        self.check(f"{tag} POST {ev}/send/batch (value over 50 chars)", st, raw, events_send, "Error", {400})

        # Errors outside OAuth: an unknown token.
        st, raw, _ = http("GET", f"{b}{pr}/contacts", token="not-a-token")
        self.check(f"{tag} GET {pr}/contacts (bad token)", st, raw, objects, "Error", {401})

    def run(self):
        for name, p in FAMILIES.items():
            self.run_family(name, p)
        # The deprecated OAuth v1 token path is not served (the client never calls it).
        st, raw, _ = http("POST", f"{self.base}/oauth/v1/token", form={"grant_type": "refresh_token"})
        self.check("POST /oauth/v1/token (legacy v1)", st, raw, oauth, "Error", {404})
        print(f"conformance: {self.parsed} answers parsed, {len(self.failures)} parse failures")
        return 0 if not self.failures else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    a = ap.parse_args()
    sys.exit(Conformance(a.base, a.client_id, a.client_secret).run())


if __name__ == "__main__":
    main()
