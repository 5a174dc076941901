"""transformers' generate() tokens/s, the reference a user would pick instead of lockstep's engine.

    hf_generate_bench.py --model DIR [--batches 1,32] [--prompt-tokens 64] [--new-tokens 64]
                         [--kernels off|batch_invariant] [--repeats 2]

Same workload as `lockstep throughput`: B random prompts of equal length, greedy,
exactly --new-tokens each (EOS ignored), bf16 on CUDA; the fastest of --repeats runs after
one warm-up. --kernels loads lockstep's kernels (python/src, $LOCKSTEP_KERNELS_LIB) and
sets their mode, so "batch_invariant" is transformers running lockstep's invariant kernels.
"""
import argparse
import pathlib
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--kernels", choices=["stock", "off", "batch_invariant"], default="stock",
                    help="stock: no lockstep library; off / batch_invariant: lockstep's kernels in that mode")
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM
    if args.kernels != "stock":
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python" / "src"))
        import lockstep_kernels as lk
        lk.load()
        lk.set_mode(args.kernels)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16).cuda().eval()
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(1)

    def once(batch):
        ids = torch.randint(0, vocab, (batch, args.prompt_tokens), generator=gen).cuda()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.new_tokens,
                             min_new_tokens=args.new_tokens, do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
        return time.perf_counter() - t0, (out.shape[1] - args.prompt_tokens) * batch

    batches = [int(b) for b in args.batches.split(",")]
    once(batches[0])
    print(f"transformers generate(), kernels {args.kernels}, prompt {args.prompt_tokens}, {args.new_tokens} new")
    print(f"{'batch':>6} {'seconds':>10} {'tokens/s':>12}")
    for b in batches:
        best = min(once(b) for _ in range(args.repeats))
        print(f"{b:>6} {best[0]:>10.3f} {best[1] / best[0]:>12.1f}")


if __name__ == "__main__":
    main()
