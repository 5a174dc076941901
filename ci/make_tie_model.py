"""A tiny Llama whose greedy decoding meets an EXACT tie at every step, for ci/detect.sh.

    make_tie_model.py --out DIR

Writes DIR/config.json (model_type llama: hidden 128, 2 layers, 2 heads of 64, 1 kv head, ffn
256, untied lm_head, fp32), DIR/model.safetensors and a byte-level BPE tokenizer
(DIR/tokenizer.json, DIR/tokenizer_config.json: the 256 byte symbols as ids 0..255, three merges
"Ġ t", "h e", "Ġt he", and <|endoftext|>), no chat template (suites use "chat": false).

Why it ties: hidden dim 0 is a constant channel. Every embedding row has 8.0 there and no layer
writes to it (row 0 of every o_proj and down_proj is zero), so after the final RMSNorm it is
positive. lm_head rows TIE_A ('x', 120) and TIE_B ('y', 121) are the same vector with 40.0 in
dim 0, every other row has 0 there: the two logits are the same computation on the same data,
bit for bit equal, and far above the rest. Greedy argmax with the smallest id winning (lockstep's
contract) emits 'x' at every step; a tie-break to the largest id emits 'y'.

Deterministic bytes with no torch: weights come from Python's Mersenne Twister (seeded) as
24-bit integers scaled by exact factors, packed as little-endian float32, so the model's digest
(and the golden proofs made on it) is the same everywhere.
"""
import argparse
import json
import math
import pathlib
import random
import struct

from byte_level import byte_level_alphabet

HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, FFN = 128, 2, 2, 1, 64, 256
TIE_A, TIE_B = ord("x"), ord("y")
CONSTANT, TIE_WEIGHT = 8.0, 40.0
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
EOS_TEXT = "<|endoftext|>"


def tokenizer():
    symbols = byte_level_alphabet()
    vocab = {symbols[b]: b for b in range(256)}
    for left, right in MERGES:
        vocab[left + right] = len(vocab)
    eos = len(vocab)
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eos, "content": EOS_TEXT, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": [f"{l} {r}" for l, r in MERGES]},
    }
    return doc, eos


class Weights:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def uniform(self, scale):
        # Uniform on [-scale*sqrt(3), scale*sqrt(3)) (standard deviation `scale`), exact in binary.
        return (self.rng.getrandbits(24) / float(1 << 24) - 0.5) * (2.0 * math.sqrt(3.0) * scale)

    def matrix(self, rows, cols, scale=None):
        s = scale if scale is not None else 1.0 / math.sqrt(cols)
        return [[self.uniform(s) for _ in range(cols)] for _ in range(rows)]


def model_tensors(vocab):
    w = Weights(2026)
    embed = w.matrix(vocab, HIDDEN, 0.5)
    for row in embed:
        row[0] = CONSTANT
    tensors = {"model.embed_tokens.weight": embed}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        tensors[p + "input_layernorm.weight"] = [[1.0] * HIDDEN]
        tensors[p + "post_attention_layernorm.weight"] = [[1.0] * HIDDEN]
        tensors[p + "self_attn.q_proj.weight"] = w.matrix(HEADS * HEAD_DIM, HIDDEN)
        tensors[p + "self_attn.k_proj.weight"] = w.matrix(KV_HEADS * HEAD_DIM, HIDDEN)
        tensors[p + "self_attn.v_proj.weight"] = w.matrix(KV_HEADS * HEAD_DIM, HIDDEN)
        o_proj = w.matrix(HIDDEN, HEADS * HEAD_DIM)
        o_proj[0] = [0.0] * (HEADS * HEAD_DIM)
        tensors[p + "self_attn.o_proj.weight"] = o_proj
        tensors[p + "mlp.gate_proj.weight"] = w.matrix(FFN, HIDDEN)
        tensors[p + "mlp.up_proj.weight"] = w.matrix(FFN, HIDDEN)
        down = w.matrix(HIDDEN, FFN)
        down[0] = [0.0] * FFN
        tensors[p + "mlp.down_proj.weight"] = down
    tensors["model.norm.weight"] = [[1.0] * HIDDEN]
    head = w.matrix(vocab, HIDDEN)
    for row in head:
        row[0] = 0.0
    head[TIE_A][0] = TIE_WEIGHT
    head[TIE_B] = list(head[TIE_A])
    tensors["lm_head.weight"] = head
    return tensors


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, rows in tensors.items():
        flat = [v for row in rows for v in row]
        blob = struct.pack(f"<{len(flat)}f", *flat)
        shape = [len(rows), len(rows[0])] if len(rows) > 1 else [len(rows[0])]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok, eos = tokenizer()
    vocab = eos + 1
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
        "intermediate_size": FFN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM, "vocab_size": vocab,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "hidden_act": "silu", "bos_token_id": eos, "eos_token_id": eos,
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "tokenizer.json").write_text(json.dumps(tok, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "tokenizer_config.json").write_text(
        json.dumps({"add_bos_token": False, "add_eos_token": False, "eos_token": EOS_TEXT}, indent=2) + "\n")
    write_safetensors(out / "model.safetensors", model_tensors(vocab))
    print(f"tie model: {out} (vocab {vocab}, tie between ids {TIE_A} and {TIE_B})")


if __name__ == "__main__":
    main()
