"""The rows and table of ci/detect.sh (detection power, harness/DETECTION.md).

    detect_report.py row --fault F --suite NAME --variant golden|co-batched|run-2|clean --exit RC
                         --results R.json [--golden G.proof.json] --command CMD >> rows.jsonl
    detect_report.py table rows.jsonl          # prints the Markdown table; exit 1 if ANY fault row
                                               # went undetected, a clean row alarmed, or a row is an error

A row is "detected" when verify exited 1 and named a divergence: for the golden variant a case
that differs from the golden proof, for co-batched a co-batched run (kind "batch", or the cases
together) that differs from the case's solo reference, for run-2 a run that differs from run 1. `tokens` says
whether the fault also changed ids (golden variant: some case's prompt or output ids differ from
the golden proof; run-2: the first divergence is a token, length or prompt one), i.e. whether a
gate at --golden-level tokens (which compares prompt and output ids) would still see it; "bits
only": only the logits digests differ, which --golden-level bits (the default) sees.
"""
import argparse
import json
import sys


def first_run_divergence(results, co_batched=False):
    for case in results.get("cases", []):
        for run in case.get("runs", []):
            if co_batched and "batch" not in run:
                continue
            if not run.get("match", True):
                d = run.get("first_divergence") or {}
                return case["id"], run["label"], d.get("step"), d.get("reason") or (run.get("error") or "error")[:60]
    return None


def golden_divergence(results):
    golden = results.get("golden") or {}
    for verdict in golden.get("cases", []):
        if not verdict.get("match", True):
            d = verdict.get("first_divergence") or {}
            return verdict["id"], "golden", d.get("step"), d.get("reason") or verdict.get("note")
    return None


def tokens_changed(results, golden_path):
    golden = json.load(open(golden_path, encoding="utf-8"))
    want = {c["id"]: (c["input_ids"], c["output_ids"]) for c in golden["cases"]}
    return any((c["prompt_ids"], c["output_ids"]) != want.get(c["id"]) for c in results.get("cases", []))


def row(args):
    out = {"fault": args.fault, "suite": args.suite, "variant": args.variant, "exit": args.exit,
           "command": args.command}
    try:
        results = json.load(open(args.results, encoding="utf-8"))
    except (OSError, ValueError) as e:
        out.update(detected=False, error=f"no results ({e})")
        print(json.dumps(out))
        return
    if args.variant == "clean":
        where = golden_divergence(results) or first_run_divergence(results)
    elif args.variant == "golden":
        where = golden_divergence(results)
    else:
        where = first_run_divergence(results, co_batched=args.variant == "co-batched")
    out["where"] = list(where) if where else None
    out["detected"] = args.exit == 1 and where is not None
    counts = results.get("counts", {})
    out["comparisons"] = counts.get("comparisons")
    out["comparisons_failed"] = counts.get("comparisons_failed")
    if args.variant == "clean":
        pass
    elif args.variant == "golden":
        out["tokens"] = tokens_changed(results, args.golden)
    else:
        out["tokens"] = bool(where) and where[3] in ("token", "length", "prompt")
    print(json.dumps(out))


def table(args):
    rows = [json.loads(line) for line in open(args.rows, encoding="utf-8") if line.strip()]
    print("| fault | suite | variant | detected | level | first divergence (case, run, step, reason) | exit |")
    print("|---|---|---|---|---|---|---|")
    by_fault = {}
    bad = []
    for r in rows:
        if r["fault"] == "none":
            ok = r["exit"] == 0
            if not ok:
                bad.append(f"clean run exited {r['exit']}")
            where = ", ".join(str(x) for x in r["where"]) if r.get("where") else "-"
            print(f"| (none: clean) | {r['suite']} | {r['variant']} | {'FALSE ALARM' if not ok else 'no alarm'} "
                  f"| - | {where} | {r['exit']} |")
            continue
        if "error" in r:
            bad.append(f"{r['fault']} on {r['suite']}: {r['error']}")
        by_fault.setdefault(r["fault"], []).append(r)
        level = "-" if not r["detected"] else ("tokens" if r.get("tokens") else "bits only")
        where = ", ".join(str(x) for x in r["where"]) if r.get("where") else "-"
        print(f"| {r['fault']} | {r['suite']} | {r['variant']} | {'yes' if r['detected'] else 'NO'} | {level} "
              f"| {where} | {r['exit']} |")
    for fault, fault_rows in by_fault.items():
        for r in fault_rows:
            if not r["detected"]:
                bad.append(f"{fault} on {r['suite']} ({r['variant']}): not detected")
    rows_detected = sum(r["detected"] for fr in by_fault.values() for r in fr)
    rows_all = sum(len(fr) for fr in by_fault.values())
    detected = sum(all(r["detected"] for r in fr) for fr in by_fault.values())
    print(f"\n{detected} of {len(by_fault)} faults detected in every row ({rows_detected} of {rows_all} rows).")
    for line in bad:
        print(f"FAIL: {line}", file=sys.stderr)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("row")
    r.add_argument("--fault", required=True)
    r.add_argument("--suite", required=True)
    r.add_argument("--variant", choices=["golden", "co-batched", "run-2", "clean"], required=True)
    r.add_argument("--exit", type=int, required=True)
    r.add_argument("--results", required=True)
    r.add_argument("--golden")
    r.add_argument("--command", default="")
    t = sub.add_parser("table")
    t.add_argument("rows")
    args = ap.parse_args()
    if args.what == "row":
        row(args)
        return 0
    return table(args)


if __name__ == "__main__":
    sys.exit(main())
