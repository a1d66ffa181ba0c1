#!/usr/bin/env python3
"""Runs every rule, as SQL from pysigma-backend-sqlite, over ECS lines the collector wrote.

    python3 detections/evaluate.py FILE.ndjson [FILE…]

Loads each line into one SQLite table `logs` (nested objects flattened into dotted column
names, as the rules name ECS fields; arrays and objects left as JSON text; `timestamp` is
`@timestamp`, what the backend's correlations window on), converts each rule file through
pipelines/esign-ecs.yml and runs its queries. Prints one JSON object: {rule file stem: number of
result rows}; for a correlation rule a row is one alert (a group over its threshold within its
timespan), for a single rule one matching event. Exit 2 on an unreadable file or a rule that
does not convert or whose SQL SQLite refuses.
"""

import json
import sqlite3
import sys
from datetime import datetime, timezone

from sigma.backends.sqlite import sqliteBackend

import common


def flatten(doc, prefix="", out=None):
    out = {} if out is None else out
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flatten(value, name + ".", out)
        elif isinstance(value, (dict, list)):
            out[name] = json.dumps(value, sort_keys=True)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = value
    return out


def sqlite_time(ts):
    """RFC 3339 (any number of fractional digits) → 'YYYY-MM-DD HH:MM:SS.fff' UTC."""
    head, _, frac = ts.rstrip("Z").partition(".")
    t = datetime.fromisoformat(head + ("+00:00" if ts.endswith("Z") else "")).astimezone(timezone.utc)
    ms = (frac + "000")[:3] if frac else "000"
    return t.strftime("%Y-%m-%d %H:%M:%S.") + ms


def load(paths):
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{n}: not JSON: {e}")
                flat = flatten(doc)
                if "@timestamp" in flat:
                    flat["timestamp"] = sqlite_time(flat["@timestamp"])
                rows.append(flat)
    db = sqlite3.connect(":memory:")
    columns = sorted({k for r in rows for k in r} | {"timestamp", "event.dataset"})
    quoted = ", ".join(f'"{c}"' for c in columns)
    db.execute(f"CREATE TABLE logs ({quoted})")
    marks = ", ".join("?" for _ in columns)
    db.executemany(f"INSERT INTO logs ({quoted}) VALUES ({marks})", [[r.get(c) for c in columns] for r in rows])
    return db


def run(db, rule, query):
    """The rows of `query`. A field no line has is a column of NULLs (added on demand)."""
    while True:
        try:
            return db.execute(query).fetchall()
        except sqlite3.OperationalError as e:
            missing = str(e).removeprefix("no such column: ")
            if missing == str(e) or '"' in missing:
                print(f"{rule}: SQLite refused its query: {e}\n{query}", file=sys.stderr)
                sys.exit(2)
            db.execute(f'ALTER TABLE logs ADD COLUMN "{missing}"')


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    db = load(sys.argv[1:])
    result = {}
    for path in common.rule_files():
        docs = common.documents(path)
        try:
            queries = sqliteBackend(processing_pipeline=common.pipeline()).convert(common.collection(docs))
        except Exception as e:  # noqa: BLE001 - any conversion failure is the rule's defect
            print(f"{path.name}: does not convert to SQLite: {e}", file=sys.stderr)
            sys.exit(2)
        count = 0
        for q in queries:
            count += len(run(db, path.name, q))
        result[path.stem] = count
    json.dump(result, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
