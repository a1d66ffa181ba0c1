#!/usr/bin/env python3
"""Converts every rule in rules/ with the real pySigma backends into converted/<backend>/.

    python3 detections/convert.py            # rewrite converted/
    python3 detections/convert.py --out DIR  # write elsewhere (the test diffs DIR against converted/)

Backends: Splunk SPL, Elastic ES|QL, Microsoft Sentinel KQL, Google SecOps (UDM search).
Each query goes through pipelines/esign-ecs.yml (the logsource becomes the ECS event.dataset).
A backend without correlation support (Kusto, SecOps) gets the base search of a correlation
rule; converted/MANIFEST.json says so, and docs/detections.md gives the threshold to set.
For Sentinel the fields are the ECS names with '.' replaced by '_' (the columns of the
ESignCollector_CL table the docs' data collection rule writes), and the query starts from it.
"""

import argparse
import json
import sys
from pathlib import Path

from sigma.backends.elasticsearch import ESQLBackend
from sigma.backends.kusto import KustoBackend
from sigma.backends.secops import SecOpsBackend
from sigma.backends.splunk import SplunkBackend
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation

import common

SENTINEL_TABLE = "ESignCollector_CL"


def rule_fields(docs):
    """Every field a rule file names (detection keys, group-by, aggregated fields)."""
    fields = set()
    for d in docs:
        for key, value in (d.get("detection") or {}).items():
            if key == "condition":
                continue
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    fields.update(k.split("|")[0] for k in item)
        corr = d.get("correlation") or {}
        fields.update(corr.get("group-by") or [])
        cond = corr.get("condition") or {}
        if isinstance(cond, dict) and "field" in cond:
            fields.add(cond["field"])
    fields.add("event.dataset")
    return fields


def sentinel_pipeline(docs):
    mapping = {f: f.replace(".", "_").replace("-", "_") for f in rule_fields(docs)}
    return ProcessingPipeline(
        name="esign-collector Sentinel columns",
        priority=30,
        items=[ProcessingItem(FieldMappingTransformation(mapping), identifier="ecs_to_columns")],
    )


BACKENDS = {
    # name: (extension, backend factory, wraps the query)
    "splunk": ("spl", lambda docs: SplunkBackend(processing_pipeline=common.pipeline()), None),
    "elastic-esql": ("esql", lambda docs: ESQLBackend(processing_pipeline=common.pipeline()), None),
    "sentinel-kql": (
        "kql",
        lambda docs: KustoBackend(processing_pipeline=common.pipeline() + sentinel_pipeline(docs)),
        lambda q: f"{SENTINEL_TABLE}\n| where {q}",
    ),
    "secops": ("udm", lambda docs: SecOpsBackend(processing_pipeline=common.pipeline()), None),
}


def convert_file(path):
    """{backend: (text, base_only)} for one rule file."""
    docs = common.documents(path)
    out = {}
    for name, (_ext, make, wrap) in BACKENDS.items():
        base_only = False
        try:
            queries = make(docs).convert(common.collection(docs))
        except NotImplementedError:
            # The backend has no correlation support: the base search alone.
            base = [d for d in docs if not common.is_correlation(d)]
            queries = make(docs).convert(common.collection(base))
            base_only = True
        queries = [wrap(q) if wrap else q for q in queries]
        out[name] = ("\n\n".join(str(q) for q in queries) + "\n", base_only)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=common.HERE / "converted")
    args = ap.parse_args()
    manifest = {}
    for path in common.rule_files():
        stem = path.stem
        for name, (text, base_only) in convert_file(path).items():
            ext = BACKENDS[name][0]
            target = args.out / name / f"{stem}.{ext}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            if base_only:
                manifest.setdefault(stem, []).append(name)
    doc = {
        "base_search_only": manifest,
        "note": "These backends have no Sigma correlation support: the file holds the base search; "
        "set the threshold from the rule's correlation in the SIEM (docs/detections.md).",
    }
    (args.out / "MANIFEST.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"converted {len(common.rule_files())} rules into {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
