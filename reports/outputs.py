"""The action's outputs from a results.json: `python -m reports.outputs RESULTS [NAME=PATH...]` prints
`key=value` lines for $GITHUB_OUTPUT (ci/action-run.sh appends them)."""
from __future__ import annotations

import sys

from reports.load import BadInput, check_results, read_json


def action_outputs(doc: dict) -> dict:
    counts, golden = doc["counts"], doc.get("golden")
    if golden is None:
        golden_verdict = "none"
    elif golden.get("written"):
        golden_verdict = "written"
    else:
        golden_verdict = golden.get("verdict", "fail")
    return {"verdict": doc["verdict"], "cases": counts["cases"], "cases-passed": counts["cases_passed"],
            "cases-failed": counts["cases_failed"], "comparisons": counts["comparisons"],
            "comparisons-failed": counts["comparisons_failed"], "golden-verdict": golden_verdict}


def main(argv) -> int:
    if not argv:
        print("usage: python -m reports.outputs RESULTS.json [NAME=VALUE...]", file=sys.stderr)
        return 2
    try:
        doc = check_results(read_json(argv[0]))
    except BadInput as e:
        print(f"reports.outputs: error: {e}", file=sys.stderr)
        return 2
    values = {**action_outputs(doc), **dict(a.split("=", 1) for a in argv[1:])}
    for key, value in values.items():
        if "\n" in str(value):   # one line per output: a newline would forge another output
            print(f"reports.outputs: error: output {key} holds a newline", file=sys.stderr)
            return 2
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
