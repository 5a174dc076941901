"""The PyTorch user's table (issue 21, README "For PyTorch users"): one kernel set per process.

    pytorch_table.py --model DIR --variant stock|batch_invariant_ops|lockstep [--json OUT]

On the GPU (bf16, SDPA attention), transformers' model from DIR:
  drift     max |logits of row 0| difference, row 0 inside batches of 8 and 32 (other rows random
            prompts) vs row 0 alone, prompt 128 tokens, every position;
  generate  greedy generate(), prompt 64, exactly 64 new tokens, batch 1 and 32, tokens/s (best of 2
            after a warm-up);
  prefill   one forward of 32 x 128 tokens, ms (median of 10 after 3 warm-ups).
stock: no kernels loaded; batch_invariant_ops: thinking-machines-lab's Triton kernels, from a checkout
in .ref/batch_invariant_ops (never committed; ci/gpu-python.sh says how it gets there); lockstep: the
installed lockstep_kernels wheel. Each in its own process: aten overrides stay for a process's life.
"""
import argparse
import json
import pathlib
import statistics
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]


def enable(variant):
    if variant == "batch_invariant_ops":
        sys.path.insert(0, str(ROOT / ".ref" / "batch_invariant_ops"))
        import batch_invariant_ops as bio
        bio.enable_batch_invariant_mode()
        return
    if variant == "lockstep":
        import lockstep_kernels as lk
        lk.enable_batch_invariant_mode()
        print(f"lockstep_kernels from {lk.loaded_path()}", file=sys.stderr)


def sync_time(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--variant", choices=["stock", "batch_invariant_ops", "lockstep"], required=True)
    ap.add_argument("--json")
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, attn_implementation="sdpa")
    model = model.cuda().eval()
    enable(args.variant)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(1)
    ids = lambda b, t: torch.randint(0, vocab, (b, t), generator=gen).cuda()  # noqa: E731
    row = {}

    with torch.no_grad():
        prompt = ids(1, 128)
        alone = model(prompt).logits[0].float()
        for b in (8, 32):
            batch = torch.cat([prompt, ids(b - 1, 128)])
            row[f"drift_b{b}"] = float((model(batch).logits[0].float() - alone).abs().max())

        for b in (1, 32):
            def once():
                p = ids(b, 64)
                return model.generate(p, attention_mask=torch.ones_like(p), max_new_tokens=64, min_new_tokens=64,
                                      do_sample=False, pad_token_id=0)
            sync_time(once)
            best = min(sync_time(once)[0] for _ in range(2))
            row[f"generate_b{b}_tok_s"] = 64 * b / best

        x = ids(32, 128)
        for _ in range(3):
            model(x)
        row["prefill_32x128_ms"] = 1e3 * statistics.median(sync_time(lambda: model(x))[0] for _ in range(10))

    row["variant"] = args.variant
    print(json.dumps(row))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
