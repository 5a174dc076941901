"""Tabulate a Kineto Chrome trace (lockstep throughput --profile, or torch.profiler's export).

    trace_summary.py TRACE.json [--top 25]

Prints: the span of the trace, the GPU's busy time (union of kernel and copy
intervals) and so its idle share, kernel time by name, the CUDA runtime calls
(launches, syncs, copies) by count and time, the CPU operators by total time, and
the GPU's idle gaps by size (the largest with the work on either side).
A GPU idle most of the span means the step is bound by host work, not kernels.
"""
import argparse
import collections
import json


def merged_intervals(events):
    """The union of (start, end, name) intervals as [start, end, first name, last name] runs."""
    merged = []
    for s, e, name in sorted(events):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1][1], merged[-1][3] = e, name
        else:
            merged.append([s, e, name, name])
    return merged


def idle_gaps(merged, top):
    """Where the GPU waits: gaps between the union's intervals, by size."""
    gaps = [(merged[i + 1][0] - merged[i][1], merged[i][3], merged[i + 1][2]) for i in range(len(merged) - 1)]
    print(f"\nGPU idle gaps between work (total {sum(g for g, _, _ in gaps) / 1e3:.2f} ms in {len(gaps)} gaps)")
    print(f"{'under':>10} {'gaps':>8} {'total ms':>10}")
    edges = [2, 5, 10, 20, 50, 100, 1000, float("inf")]
    lower = 0.0
    for edge in edges:
        inside = [g for g, _, _ in gaps if lower <= g < edge]
        label = "longer" if edge == float("inf") else f"{edge:g} us"
        print(f"{label:>10} {len(inside):>8} {sum(inside) / 1e3:>10.2f}")
        lower = edge
    print(f"largest {top}: us, the work before -> the work after")
    for g, before, after in sorted(gaps, key=lambda x: -x[0])[:top]:
        print(f"{g:>10.1f}  {before[:50]} -> {after[:50]}")


def table(title, rows, top, span):
    print(f"\n{title}")
    print(f"{'total ms':>10} {'% span':>7} {'count':>8} {'mean us':>9}  name")
    for name, (total, count) in sorted(rows.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"{total / 1e3:>10.2f} {100 * total / span:>7.1f} {count:>8} {total / count:>9.1f}  {name[:110]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    with open(args.trace) as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X" and "dur" in e]
    if not events:
        raise SystemExit("no complete events in the trace")
    start = min(e["ts"] for e in events)
    span = max(e["ts"] + e["dur"] for e in events) - start
    by_cat = collections.defaultdict(lambda: collections.defaultdict(lambda: [0.0, 0]))
    device = []
    for e in events:
        cat = e.get("cat", "")
        row = by_cat[cat][e["name"]]
        row[0] += e["dur"]
        row[1] += 1
        if cat in ("kernel", "gpu_memcpy", "gpu_memset"):
            device.append((e["ts"], e["ts"] + e["dur"], e["name"]))
    merged = merged_intervals(device)
    busy = sum(e - s for s, e, _, _ in merged)
    print(f"trace span {span / 1e3:.1f} ms; GPU busy {busy / 1e3:.1f} ms ({100 * busy / span:.1f}%), "
          f"idle {100 * (1 - busy / span):.1f}%")
    for cat, title in (("kernel", "GPU kernels"), ("gpu_memcpy", "GPU copies"), ("cuda_runtime", "CUDA runtime calls"),
                       ("cuda_driver", "CUDA driver calls"), ("cpu_op", "CPU operators (profiling thread)")):
        if by_cat.get(cat):
            table(title, by_cat[cat], args.top, span)
    if merged:
        idle_gaps(merged, 8)


if __name__ == "__main__":
    main()
