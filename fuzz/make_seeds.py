#!/usr/bin/env python3
"""Writes the fuzz seed corpora under fuzz/corpus/ (committed; re-run to
re-make them). Every seed is a small valid input of its parser: tiny
safetensors and GGUF files written here byte by byte after the formats'
specs, two small tokenizer.json files (byte-level BPE as SmolLM2 and GPT-2
use it; SentencePiece-style BPE as Llama-2 uses it), the repo's suites, and
the CPU golden proof (whole, and trimmed to one case)."""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "ci"))
from byte_level import byte_level_alphabet  # noqa: E402
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def safetensors_file(tensors, metadata=None):
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_file(kvs, tensors, alignment=32):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, vtype, payload in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype) + payload
    data, infos = b"", b""
    for name, ttype, dims, raw in tensors:
        data += b"\0" * (-len(data) % alignment)
        infos += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ttype, len(data))
        data += raw
    out += infos
    out += b"\0" * (-len(out) % alignment)
    return out + data


def main():
    f32 = struct.pack("<6f", 1, -2, 3.5, 0, 1e-3, 7)
    bf16 = struct.pack("<4H", 0x3F80, 0xC000, 0x0000, 0x7F80)
    f16 = struct.pack("<2H", 0x3C00, 0xBC00)
    write("safetensors", "two-tensors.safetensors",
          safetensors_file([("a.weight", "F32", [2, 3], f32), ("b.bias", "BF16", [4], bf16),
                            ("c", "F16", [2], f16), ("empty", "I64", [0, 3], b"")],
                           {"format": "pt"}))
    write("safetensors", "scalar.safetensors", safetensors_file([("s", "F32", [], struct.pack("<f", 2.5))]))

    kU32, kI32, kF32, kBool, kString, kArray, kU64 = 4, 5, 6, 7, 8, 9, 10
    kvs = [
        ("general.architecture", kString, gguf_string("llama")),
        ("general.alignment", kU32, struct.pack("<I", 32)),
        ("llama.context_length", kU32, struct.pack("<I", 2048)),
        ("llama.rope.freq_base", kF32, struct.pack("<f", 10000.0)),
        ("tokenizer.ggml.add_bos_token", kBool, b"\1"),
        ("tokenizer.ggml.bos_token_id", kI32, struct.pack("<i", 1)),
        ("tokenizer.ggml.tokens", kArray, struct.pack("<IQ", kString, 3) + b"".join(gguf_string(t) for t in ["<s>", "a", "b"])),
        ("tokenizer.ggml.token_type", kArray, struct.pack("<IQ", kI32, 3) + struct.pack("<3i", 3, 1, 1)),
        ("general.file_type", kU64, struct.pack("<Q", 3)),
    ]
    q8_0 = struct.pack("<e", 0.5) + bytes(range(32))                     # 32 elements, 34 bytes
    q4_1 = struct.pack("<ee", 0.25, -1.0) + bytes(range(16))             # 32 elements, 20 bytes
    tensors = [("t.f32", 0, [4], struct.pack("<4f", 1, 2, 3, 4)), ("t.f16", 1, [2, 2], struct.pack("<4e", 1, -1, 0.5, 2)),
               ("t.q8_0", 8, [32], q8_0), ("t.q4_1", 3, [32, 1], q4_1)]
    write("gguf", "small-v3.gguf", gguf_file(kvs, tensors))
    write("gguf", "metadata-only.gguf", gguf_file(kvs[:3], []))

    alphabet = byte_level_alphabet()
    vocab = {c: i for i, c in enumerate(alphabet)}
    merges = []
    for left, right in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("ll", "o"), ("H", "e"), ("He", "llo")]:
        merges.append([left, right])
        vocab.setdefault(left + right, len(vocab))
    im_end = len(vocab)
    byte_level = {
        "version": "1.0",
        "added_tokens": [{"id": im_end, "content": "<|im_end|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": merges},
    }
    write("tokenizer", "byte-level.json", json.dumps(byte_level, ensure_ascii=False, indent=1))

    sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        sp_vocab[f"<0x{b:02X}>"] = len(sp_vocab)
    for piece in ["▁", "H", "e", "l", "o", "w", "r", "d", "▁H", "ll", "llo", "▁w", "or"]:
        sp_vocab.setdefault(piece, len(sp_vocab))
    sentencepiece = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for t, i in [("<unk>", 0), ("<s>", 1), ("</s>", 2)]],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": sp_vocab, "merges": ["▁ H", "l l", "ll o", "▁ w", "o r"]},
    }
    write("tokenizer", "sentencepiece.json", json.dumps(sentencepiece, ensure_ascii=False, indent=1))

    for name in sorted(os.listdir(os.path.join(ROOT, "suites"))):
        if name.endswith(".json"):
            with open(os.path.join(ROOT, "suites", name), "rb") as f:
                write("suite", name, f.read())

    golden = os.path.join(ROOT, "golden", "smollm2-135m-instruct", "cpu-x86_64.proof.json")
    with open(golden, "rb") as f:
        raw = f.read()
    write("proof", "golden-cpu.proof.json", raw)
    doc = json.loads(raw)
    doc["cases"] = doc["cases"][:1]   # its digest no longer matches: the fuzz target re-stamps it
    write("proof", "golden-one-case.proof.json", json.dumps(doc, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
