"""A Llama-shaped random-weight model of about 1B parameters, for the GPU checks.

    make_random_llama.py --out DIR --tokenizer-from TOKDIR [--layers 16]
    make_random_llama.py --out DIR --tiny       # 2 layers, hidden 256, vocab 2048, context 4096:
                                                # the engine's CPU property test (no tokenizer)
    make_random_llama.py --out DIR --small --tokenizer-from TOKDIR
                        # 2 layers, hidden 64, SmolLM2's vocabulary and tokenizer: a model a
                        # third-party server (transformers serve) can load and answer in milliseconds
    make_random_llama.py --out DIR --smollm2 --tokenizer-from TOKDIR
                        # SmolLM2-135M's shapes (30 layers, hidden 576, 9 heads / 3 kv heads,
                        # ffn 1536, rope theta 1e5, no scaling): its speed without its 93 MB file

Writes DIR/config.json (model_type llama: hidden 2048, 16 layers, 32 heads, 8 kv heads, ffn 8192,
vocab 49152, Llama-3 RoPE scaling, tied embeddings, bf16) and DIR/model.safetensors (bf16, weights
N(0, 1/fan_in) from a fixed seed, norms 1), and copies tokenizer.json, tokenizer_config.json and chat_template.jinja from
TOKDIR (SmolLM2's, whose vocabulary has the same size). Needs only torch: the safetensors file is
written directly (8-byte header length, JSON header, raw little-endian data), so it runs on the GPU
image, which has no transformers.
"""
import argparse
import json
import pathlib
import shutil
import struct

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer-from")
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--tiny", action="store_true", help="a small model for CPU tests")
    ap.add_argument("--smollm2", action="store_true", help="SmolLM2-135M's shapes with random weights")
    ap.add_argument("--small", action="store_true", help="2 layers, hidden 64, SmolLM2's vocabulary")
    args = ap.parse_args()
    if not args.tiny and not args.tokenizer_from:
        ap.error("--tokenizer-from is required unless --tiny")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    hidden, heads, kv_heads, ffn, vocab = 2048, 32, 8, 8192, 49152
    if args.tiny:
        hidden, heads, kv_heads, ffn, vocab, args.layers = 256, 4, 2, 512, 2048, 2
    if args.smollm2:
        hidden, heads, kv_heads, ffn, args.layers = 576, 9, 3, 1536, 30
    if args.small:
        hidden, heads, kv_heads, ffn, args.layers = 64, 4, 2, 128, 2
    head_dim = hidden // heads
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
        "intermediate_size": ffn, "num_hidden_layers": args.layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "head_dim": head_dim, "vocab_size": vocab,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 1024},
        "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": "bfloat16",
    }
    if args.smollm2:
        config.update({"rope_theta": 100000.0, "max_position_embeddings": 8192})
        del config["rope_scaling"]
    (out / "config.json").write_text(json.dumps(config, indent=2))
    gen = torch.Generator().manual_seed(2026)

    def matrix(rows, cols):
        return (torch.randn(rows, cols, generator=gen) / cols ** 0.5).to(torch.bfloat16)

    tensors = {"model.embed_tokens.weight": matrix(vocab, hidden), "model.norm.weight": torch.ones(hidden, dtype=torch.bfloat16)}
    for i in range(args.layers):
        p = f"model.layers.{i}."
        tensors[p + "input_layernorm.weight"] = torch.ones(hidden, dtype=torch.bfloat16)
        tensors[p + "post_attention_layernorm.weight"] = torch.ones(hidden, dtype=torch.bfloat16)
        tensors[p + "self_attn.q_proj.weight"] = matrix(hidden, hidden)
        tensors[p + "self_attn.k_proj.weight"] = matrix(kv_heads * head_dim, hidden)
        tensors[p + "self_attn.v_proj.weight"] = matrix(kv_heads * head_dim, hidden)
        tensors[p + "self_attn.o_proj.weight"] = matrix(hidden, hidden)
        tensors[p + "mlp.gate_proj.weight"] = matrix(ffn, hidden)
        tensors[p + "mlp.up_proj.weight"] = matrix(ffn, hidden)
        tensors[p + "mlp.down_proj.weight"] = matrix(hidden, ffn)
    header, offset = {}, 0
    for name, t in tensors.items():
        n = t.numel() * 2
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(out / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for t in tensors.values():
            f.write(t.contiguous().view(torch.int16).numpy().tobytes())
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja") if args.tokenizer_from else ():
        if (pathlib.Path(args.tokenizer_from) / name).exists():
            shutil.copy(pathlib.Path(args.tokenizer_from) / name, out / name)
    params = sum(t.numel() for t in tensors.values())
    print(f"wrote {out}: {params / 1e6:.1f}M parameters, {offset / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
