#!/usr/bin/env python3
"""Turns one ci/gpu-bench.sh run (bench.json from lockstep_bench_cuda, triton.json
from kernels/bench/triton_ref.py, device.txt, bench-plans.txt) into the
side-by-side markdown of kernels/PERF.md, with the issue's goals marked.

    python3 kernels/bench/perf_table.py OUT_DIR      # writes OUT_DIR/perf.md
"""
import json, math, os, re, sys
out = sys.argv[1]
bench = json.load(open(os.path.join(out, "bench.json")))
times = {}
for b in bench["benchmarks"]:
    if b.get("run_type", "iteration") != "iteration":
        continue
    name = re.sub(r"(/min_time:[^/]+)?(/manual_time)?$", "", b["name"])
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "us")]
    key, impl = name.rsplit("/", 1)
    times.setdefault(key, {})[impl] = b["real_time"] * scale  # microseconds per call
triton = {}
tpath = os.path.join(out, "triton.json")
if os.path.exists(tpath):
    for r in json.load(open(tpath))["gemm_bf16"]:
        triton[(r["model"], r["name"], r["m"])] = r

def mark(ok):
    return "met" if ok else "**not met**"

lines = ["# lockstep CUDA kernels: ours vs stock vs Triton reference", ""]
lines += ["```", open(os.path.join(out, "device.txt")).read().strip(), "```", ""]
lines += ["Ratios are throughput ratios (higher is better) unless marked as time ratios. "
          "cuBLAS = stock torch.mm in the same C++ run; Triton/cuBLAS comes from the Python run "
          "(its own cuBLAS timing, so the ratio is same-process).", ""]

# GEMM
lines += ["## bf16 GEMM (x @ W.T, W [N, K])", "",
          "| shape | M | ours us | cuBLAS us | Triton us | ours TFLOP/s | ours/cuBLAS | Triton/cuBLAS |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
summary = []
shapes = []
for key in times:
    m = re.match(r"gemm_bf16/([^/]+)/([^/]+)/N=(\d+)/K=(\d+)/M=(\d+)$", key)
    if m:
        shapes.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5)), key))
by_shape = {}
for model, name, n, k, mm, key in shapes:
    by_shape.setdefault((model, name, n, k), []).append((mm, key))
all_small, all_large = [], []
for (model, name, n, k), entries in by_shape.items():
    small, large = [], []
    for mm, key in sorted(entries):
        t = times[key]
        if "ours" not in t or "stock" not in t:
            continue
        ratio = t["stock"] / t["ours"]
        tr = triton.get((model, name, mm))
        tri_us = f"{tr['triton_us']:.1f}" if tr else "-"
        tri_ratio = f"{tr['cublas_us'] / tr['triton_us']:.2f}" if tr else "-"
        tflops = 2.0 * mm * n * k / (t["ours"] * 1e-6) / 1e12
        lines.append(f"| {model}/{name} N={n} K={k} | {mm} | {t['ours']:.1f} | {t['stock']:.1f} | {tri_us} | "
                     f"{tflops:.1f} | {ratio:.2f} | {tri_ratio} |")
        if mm <= 64:
            small.append(ratio)
        if mm >= 1024:
            large.append(ratio)
    all_small += small
    all_large += large
    geo = math.exp(sum(map(math.log, small)) / len(small)) if small else float("nan")
    summary.append(f"| {model}/{name} N={n} K={k} | {min(large) if large else float('nan'):.2f} "
                   f"({mark(bool(large) and min(large) >= 0.95)}) | {geo:.2f} ({mark(geo >= 0.85)}) |")
lines += ["", "### GEMM goals: ours/cuBLAS >= 0.95 at M >= 1024, geomean >= 0.85 over M <= 64", "",
          "| shape | min ratio, M >= 1024 | geomean ratio, M <= 64 |", "|---|---|---|"] + summary
if all_small:
    geo = math.exp(sum(map(math.log, all_small)) / len(all_small))
    lines.append(f"| **all shapes** | {min(all_large):.2f} ({mark(min(all_large) >= 0.95)}) | "
                 f"{geo:.2f} ({mark(geo >= 0.85)}) |")

# Attention
lines += ["", "## Attention decode (bf16, 32 heads x 128, 4000 keys): goal ours/stock time <= 1.10", "",
          "| batch | ours us | stock us | ours GB/s | time ours/stock | goal |", "|---:|---:|---:|---:|---:|---|"]
for key in sorted((k for k in times if k.startswith("attn_decode")), key=lambda s: int(s.rsplit("=", 1)[1])):
    t = times[key]
    if "ours" not in t or "stock" not in t:
        continue
    b = int(key.rsplit("=", 1)[1])
    gbs = 2 * b * 32 * 4000 * 128 * 2 / (t["ours"] * 1e-6) / 1e9
    r = t["ours"] / t["stock"]
    lines.append(f"| {b} | {t['ours']:.1f} | {t['stock']:.1f} | {gbs:.0f} | {r:.2f} | {mark(r <= 1.10)} |")
lines += ["", "## Attention prefill (bf16, causal, 32 heads x 128; no goal)", "",
          "| tokens | ours us | stock us | time ours/stock |", "|---:|---:|---:|---:|"]
for key in sorted(k for k in times if k.startswith("attn_prefill")):
    t = times[key]
    if "ours" in t and "stock" in t:
        lines.append(f"| {key.rsplit('=', 1)[1]} | {t['ours']:.1f} | {t['stock']:.1f} | {t['ours'] / t['stock']:.2f} |")
lines += ["", "## Norms and softmax (no goal)", "", "| op | ours us | stock us | time ours/stock |",
          "|---|---:|---:|---:|"]
for key in sorted(k for k in times if k.startswith("norm/")):
    t = times[key]
    if "ours" in t and "stock" in t:
        lines.append(f"| {key[5:]} | {t['ours']:.1f} | {t['stock']:.1f} | {t['ours'] / t['stock']:.2f} |")
plans = os.path.join(out, "bench-plans.txt")
if os.path.exists(plans):
    lines += ["", "## Pinned cuBLASLt plans (LOCKSTEP_GEMM_LOG=1)", "", "```", open(plans).read().strip(), "```"]
open(os.path.join(out, "perf.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(l for l in lines if "not met" in l or l.startswith("| **all")))
print(f"wrote {os.path.join(out, 'perf.md')}")
