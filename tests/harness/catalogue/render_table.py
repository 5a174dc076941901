"""Renders the catalogue's table for harness/BAD_INPUT.md from a recorded run:

    LOCKSTEP_CATALOGUE_RECORD=/tmp/cat.jsonl .venv/bin/python -m pytest tests/harness/catalogue -q
    .venv/bin/python tests/harness/catalogue/render_table.py /tmp/cat.jsonl
"""
import json
import sys

from test_catalogue import CASES


def on_disk(case):
    checks = ["workspace unchanged"]
    if case.outputs:
        checks = ["workspace unchanged but for complete " + ", ".join(f"`{o}`" for o in case.outputs)]
    if case.mount:
        kind = "read-only" if case.mount.get("readonly") else f"full ({case.mount.get('fill_leave')} B left)"
        checks.append(f"{kind} tmpfs unchanged")
    if case.forbidden:
        checks.append("fails before the model loads")
    return "; ".join(checks)


def cell(text):
    return text.replace("|", "\\|")


def main():
    recorded = {}
    for line in open(sys.argv[1]):
        row = json.loads(line)
        recorded[row["id"]] = row
    print("| case | input | command | exit | message (excerpt) | on disk |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        row = recorded.get(case.id, {"command": "(skipped here)", "message": ""})
        message = row["message"].removeprefix("lockstep: error: ")
        message = message if len(message) <= 160 else message[:157] + "…"
        print(f"| `{case.id}` | {cell(case.input)} | `{cell(row['command'])}` | {case.code} | {cell(message)} "
              f"| {on_disk(case)} |")


if __name__ == "__main__":
    main()
