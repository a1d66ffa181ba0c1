#!/usr/bin/env python3
"""Regenerates the OCSF JSON Schemas the format tests validate against (not run by CI).

Writes one self-contained JSON Schema per OCSF class that src/connectors/docusign/mapping/ocsf/ emits, plus
captions.json (class, category and activity captions, and per class the enums whose captions the
mapping writes), into tests/fixtures/ocsf-<version>/.

Usage: python3 -m pip install ocsf-json-schema && python3 scripts/ocsf-schemas.py
"""
import json
import pathlib

from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

VERSION = "1.4.0"
# The classes src/connectors/docusign/mapping/ocsf/ emits.
CLASSES = [
    "account_change",
    "api_activity",
    "authentication",
    "detection_finding",
    "entity_management",
    "group_management",
    "user_access",
    "user_inventory",
]
# Enum attributes whose captions the mapping writes beside the id.
ENUMS = ["severity_id", "status_id", "auth_protocol_id"]


def by_id(enum: dict) -> dict:
    """{id: caption}, ordered by id."""
    return {k: v["caption"] for k, v in sorted(enum.items(), key=lambda kv: int(kv[0]))}


def main() -> None:
    root = pathlib.Path(__file__).resolve().parent.parent
    out = root / "tests" / "fixtures" / f"ocsf-{VERSION}"
    out.mkdir(parents=True, exist_ok=True)
    raw = get_ocsf_schema(version=VERSION)
    embedded = OcsfJsonSchemaEmbedded(raw)
    captions = {"version": VERSION, "classes": {}}
    for name in CLASSES:
        schema = embedded.get_class_schema(name)
        (out / f"{name}.json").write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        cls = raw["classes"][name]
        activities = cls["attributes"]["activity_id"]["enum"]
        captions["classes"][str(cls["uid"])] = {
            "name": name,
            "caption": cls["caption"],
            "category_uid": cls["category_uid"],
            "category_name": cls["category_name"],
            "activities": by_id(activities),
            "enums": {
                attr: by_id(cls["attributes"][attr]["enum"]) for attr in ENUMS if attr in cls["attributes"]
            },
        }
    (out / "captions.json").write_text(json.dumps(captions, indent=1) + "\n")
    print(f"wrote {len(CLASSES)} schemas and captions.json to {out}")


if __name__ == "__main__":
    main()
