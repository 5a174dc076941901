"""GGUF files: truncated, corrupted, unknown types, unsupported architecture, mismatched tokenizer."""
import struct

from bad_case import Case, run_args
from tiny_models import gguf_llama


def gguf_case(id, input, change, code, message):
    def setup(ws):
        layout = ws.originals["gguf"]
        return run_args(ws.gguf(change(layout)))
    return Case(id, input, setup, code, message)


def patch(data, offset, raw):
    return data[:offset] + raw + data[offset + len(raw):]


def replace_once(data, old, new):
    assert data.count(old) == 1 and len(old) == len(new)
    return data.replace(old, new)


CASES = [
    gguf_case("gguf-empty", "a 0-byte .gguf file", lambda g: b"", 2,
              r"model\.gguf: truncated while reading header \(need 4 bytes at offset 0, file has 0\)"),
    gguf_case("gguf-truncated-header", "the first 12 bytes only (magic, version, half the tensor count)",
              lambda g: g.data[:12], 2, r"model\.gguf: truncated while reading header"),
    gguf_case("gguf-truncated-metadata", "cut inside the tokenizer's metadata (its token types)",
              lambda g: g.data[:g.tensor_infos - 700], 2,
              r"model\.gguf: (truncated while reading metadata|metadata .*cannot fit|tensor count \d+ cannot fit)"),
    gguf_case("gguf-truncated-tensor-info", "cut inside the first tensor info (before its type id)",
              lambda g: g.data[:g.first_type_field], 2, r"model\.gguf: truncated while reading tensor info #0"),
    gguf_case("gguf-truncated-data", "cut 100 bytes into the tensor data",
              lambda g: g.data[:g.data_start + 100], 2,
              r"model\.gguf: truncated: data of tensor #0 \('token_embd\.weight', 76800 bytes at data offset 0\) "
              r"extends past the end of the file"),
    gguf_case("gguf-bad-magic", "magic 'GGUX' instead of 'GGUF'", lambda g: b"GGUX" + g.data[4:], 2,
              r"model\.gguf: not a GGUF file \(bad magic\)"),
    gguf_case("gguf-bad-version", "version 7", lambda g: patch(g.data, 4, struct.pack("<I", 7)), 2,
              r"model\.gguf: unsupported GGUF version 7; only versions 2 and 3"),
    gguf_case("gguf-big-endian", "version 3 written big-endian", lambda g: patch(g.data, 4, struct.pack(">I", 3)), 2,
              r"unsupported GGUF version 50331648 \(a big-endian file\?\)"),
    gguf_case("gguf-offset-beyond-file", "first tensor's data offset 2^40 (file is 230 kB)",
              lambda g: patch(g.data, g.first_offset_field, struct.pack("<Q", 1 << 40)), 2,
              r"model\.gguf: truncated: data of tensor #0 \('token_embd\.weight'.* at data offset 1099511627776\) "
              r"extends past the end of the file"),
    gguf_case("gguf-unknown-dtype", "first tensor's ggml type id 99",
              lambda g: patch(g.data, g.first_type_field, struct.pack("<I", 99)), 2,
              r"model\.gguf: tensor info #0: tensor 'token_embd\.weight' has unknown type 99"),
    gguf_case("gguf-unsupported-dtype", "first tensor's type id 9 (Q8_1: known, not readable)",
              lambda g: patch(g.data, g.first_type_field, struct.pack("<I", 9)), 2,
              r"tensor 'token_embd\.weight' has type Q8_1 \(9\), which this reader does not support"),
    gguf_case("gguf-unsupported-architecture", "general.architecture 'mamba'",
              lambda g: replace_once(g.data, b"\x05\0\0\0\0\0\0\0llama\x0c", b"\x05\0\0\0\0\0\0\0mamba\x0c"), 2,
              r"model\.gguf: GGUF architecture 'mamba' is not supported"),
    gguf_case("gguf-tokenizer-mismatch", "tokenizer of 403 tokens, 300 embeddings",
              lambda g: gguf_llama(n_tokens=403).data, 2,
              r"model\.gguf: the tokenizer has 403 tokens but the model only 300 embeddings"),
]
