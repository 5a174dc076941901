#!/usr/bin/env python3
"""Time the Triton reference (thinking-machines-lab/batch_invariant_ops) on
the GEMM shapes of kernels/bench/cuda_bench.cpp, with cuBLAS (torch.mm)
timed in the same process for a same-run ratio.

The reference is never committed: the lead carries a checkout in
.ref/batch_invariant_ops (git-ignored); without it this script says so and
exits 0. Timing: triton.testing.do_bench, median, inputs rotated so that
weights do not sit in L2.

    python3 kernels/bench/triton_ref.py [--json out.json] [--quick]
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = os.path.join(ROOT, ".ref", "batch_invariant_ops")

GEMM_SHAPES = [  # (model, name, N, K): nn.Linear weight [N, K]
    ("smollm2_135m", "q_o", 576, 576),
    ("smollm2_135m", "k_v", 192, 576),
    ("smollm2_135m", "gate_up", 1536, 576),
    ("smollm2_135m", "down", 576, 1536),
    ("smollm2_135m", "lm_head", 49152, 576),
    ("llama3_8b", "q_o", 4096, 4096),
    ("llama3_8b", "k_v", 1024, 4096),
    ("llama3_8b", "gate_up", 14336, 4096),
    ("llama3_8b", "down", 4096, 14336),
    ("llama3_8b", "lm_head", 128256, 4096),
]
MS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]
ROTATE_BYTES = 200 << 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="write the timings here")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()

    if not os.path.isdir(REF):
        print(f"triton_ref: no checkout at {REF}; skipping the Triton reference")
        return 0
    try:
        import torch
        import triton
    except ImportError as exc:  # the device image has both; say so elsewhere
        print(f"triton_ref: cannot import torch/triton ({exc}); skipping")
        return 0
    if not torch.cuda.is_available():
        print("triton_ref: no CUDA device; skipping")
        return 0
    sys.path.insert(0, REF)
    from batch_invariant_ops import matmul_persistent  # noqa: E402  (the reference, carried)

    warmup, rep = (10, 30) if args.quick else (25, 100)
    rows = []
    print(f"{'shape':34} {'M':>5} {'triton us':>10} {'cublas us':>10} {'triton TF/s':>11} {'ratio':>6}")
    for model, name, n, k in GEMM_SHAPES:
        for m in MS:
            per_set = (n * k + m * k) * 2
            sets = max(1, min(16, -(-ROTATE_BYTES // per_set)))
            ws = [torch.randn(n, k, device="cuda", dtype=torch.bfloat16) for _ in range(sets)]
            xs = [torch.randn(m, k, device="cuda", dtype=torch.bfloat16) for _ in range(sets)]
            state = {"i": 0}

            def run(fn):
                def call():
                    i = state["i"] % sets
                    state["i"] += 1
                    fn(xs[i], ws[i].t())
                return call

            t_triton = triton.testing.do_bench(run(matmul_persistent), warmup=warmup, rep=rep, return_mode="median")
            t_cublas = triton.testing.do_bench(run(torch.mm), warmup=warmup, rep=rep, return_mode="median")
            flops = 2.0 * m * n * k
            row = {
                "model": model, "name": name, "n": n, "k": k, "m": m,
                "triton_us": t_triton * 1e3, "cublas_us": t_cublas * 1e3,
            }
            rows.append(row)
            print(f"{model + '/' + name + f' N={n} K={k}':34} {m:>5} {row['triton_us']:>10.1f} "
                  f"{row['cublas_us']:>10.1f} {flops / (t_triton * 1e-3) / 1e12:>11.1f} "
                  f"{t_cublas / t_triton:>6.2f}")
            del ws, xs
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "triton": triton.__version__, "gemm_bf16": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
