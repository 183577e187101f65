"""Run inside the official connector's own virtualenv (never imported by the test process): reads a JSON
list of operations from argv[1], runs each with `delta_sharing`, prints one JSON result per operation."""

import json
import sys

import delta_sharing


def rows(df):
    return json.loads(df.to_json(orient="records", date_format="iso", date_unit="ms"))


def run(op):
    kind = op["op"]
    if kind == "list_all_tables":
        client = delta_sharing.SharingClient(op["profile"])
        return sorted(f"{t.share}.{t.schema}.{t.name}" for t in client.list_all_tables())
    if kind == "load":
        return rows(delta_sharing.load_as_pandas(op["url"], **op.get("kwargs", {})))
    if kind == "changes":
        return rows(delta_sharing.load_table_changes_as_pandas(op["url"], **op.get("kwargs", {})))
    raise ValueError(kind)


out = []
for op in json.loads(sys.argv[1]):
    try:
        out.append({"ok": run(op)})
    except Exception as e:  # reported to the test, which decides
        out.append({"error": f"{type(e).__name__}: {e}"[:2000]})
print(json.dumps(out))
