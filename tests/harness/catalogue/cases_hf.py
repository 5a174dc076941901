"""Hugging Face model folders: safetensors, config.json and tokenizer files that are wrong."""
import json
import struct

from bad_case import Case, run_args
from tiny_models import llama_tensors, safetensors_bytes, tokenizer_json

ST = "model/model.safetensors"
Q_PROJ = "model.layers.0.self_attn.q_proj.weight"


def hf_case(id, input, change, code, message):
    """`change(ws, folder)` breaks a fresh copy of the tiny Llama folder."""
    def setup(ws):
        folder = ws.hf_model()
        change(ws, folder)
        return run_args(folder)
    return Case(id, input, setup, code, message)


def header_and_data(raw):
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def with_header(raw, edit):
    """The file with its JSON header edited by `edit(header)` (data bytes unchanged)."""
    header, data = header_and_data(raw)
    edit(header)
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob + data


def edit_st(edit):
    return lambda ws, folder: ws.write(ST, with_header((folder / "model.safetensors").read_bytes(), edit))


def tensors_st(change):
    def write(ws, folder):
        tensors = llama_tensors()
        change(tensors)
        ws.write(ST, safetensors_bytes(tensors))
    return write


def bytes_st(change):
    return lambda ws, folder: ws.write(ST, change((folder / "model.safetensors").read_bytes()))


def json_file(name, change):
    def write(ws, folder):
        doc = json.loads((folder / name).read_text())
        ws.write(f"model/{name}", change(doc) or doc)
    return write


def set_key(key, value):
    return lambda doc: doc.__setitem__(key, value)


def corrupt_json_byte(raw):
    i = raw.index(b'"dtype"')
    return raw[:i] + b"{" + raw[i + 1:]


def remove(name):
    return lambda ws, folder: (folder / name).unlink()


def cut(name, size):
    """The folder's file `name` keeps only its first `size` characters."""
    return lambda ws, folder: ws.write(f"model/{name}", (folder / name).read_text()[:size])


CASES = [
    hf_case("st-truncated-length", "model.safetensors of 4 bytes", bytes_st(lambda b: b[:4]), 2,
            r"model\.safetensors: truncated: 4 bytes, shorter than the 8-byte header length"),
    hf_case("st-header-beyond-file", "header length field larger than the file",
            bytes_st(lambda b: struct.pack("<Q", len(b)) + b[8:]), 2,
            r"model\.safetensors: truncated: header length \d+ but the file has only \d+ bytes after the length field"),
    hf_case("st-header-bad-json", "a '{' where a key's quote belongs in the JSON header",
            bytes_st(corrupt_json_byte), 2, r"model\.safetensors: header is not valid JSON: .*parse error"),
    hf_case("st-truncated-data", "the last 1000 bytes of tensor data cut off", bytes_st(lambda b: b[:-1000]), 2,
            r"model\.safetensors: truncated: tensor '[\w.]+' data_offsets \[\d+, \d+\] extend past the "
            r"\d+-byte data section"),
    hf_case("st-offsets-out-of-range", "q_proj's data_offsets end 2^40 bytes in",
            edit_st(lambda h: h[Q_PROJ].__setitem__("data_offsets", [h[Q_PROJ]["data_offsets"][0], 1 << 40])), 2,
            rf"model\.safetensors: truncated: tensor '{Q_PROJ}' data_offsets \[\d+, 1099511627776\] extend past"),
    hf_case("st-offsets-size-mismatch", "q_proj's data_offsets hold 4 bytes fewer than its shape needs",
            edit_st(lambda h: h[Q_PROJ]["data_offsets"].__setitem__(1, h[Q_PROJ]["data_offsets"][1] - 4)), 2,
            rf"tensor '{Q_PROJ}': data_offsets \[\d+, \d+\] hold 16380 bytes, but shape and dtype F32 need 16384"),
    hf_case("st-unknown-dtype", "q_proj's dtype 'F33'", edit_st(lambda h: h[Q_PROJ].__setitem__("dtype", "F33")), 2,
            rf"model\.safetensors: tensor '{Q_PROJ}': unknown dtype 'F33'"),
    hf_case("st-unreadable-dtype", "q_proj stored as I32 (a known dtype lockstep cannot read as floats)",
            edit_st(lambda h: h[Q_PROJ].__setitem__("dtype", "I32")), 2,
            rf"tensor '{Q_PROJ}' has dtype I32, which lockstep cannot read as floats"),
    hf_case("st-wrong-shape", "q_proj of shape [32, 64] instead of [64, 64]",
            tensors_st(lambda t: t.__setitem__(Q_PROJ, t[Q_PROJ][:32].copy())), 2,
            rf"model\.safetensors: tensor {Q_PROJ} has shape \[32, 64\], expected \[64, 64\]"),
    hf_case("st-missing-tensor", "mlp.up_proj left out",
            tensors_st(lambda t: t.pop("model.layers.0.mlp.up_proj.weight")), 2,
            r"model\.safetensors: tensor model\.layers\.0\.mlp\.up_proj\.weight is missing"),
    hf_case("st-missing-file", "the folder has no model.safetensors", remove("model.safetensors"), 3,
            r"model: folder has neither model\.safetensors\.index\.json nor model\.safetensors"),
    hf_case("config-missing", "no config.json", remove("config.json"), 3,
            r"model/config\.json: cannot open model config"),
    hf_case("config-bad-json", "config.json cut in half",
            cut("config.json", 60), 2,
            r"model/config\.json: not valid JSON"),
    hf_case("config-unsupported-architecture", "MambaForCausalLM (model_type 'mamba')",
            json_file("config.json", lambda d: {**d, "architectures": ["MambaForCausalLM"], "model_type": "mamba"}), 2,
            r"model/config\.json: 'model_type' is 'mamba'; supported: gpt2, llama, mistral, qwen2, qwen3"),
    hf_case("config-bad-heads", "num_key_value_heads 3 with 4 attention heads",
            json_file("config.json", set_key("num_key_value_heads", 3)), 2,
            r"model/config\.json: num_attention_heads \(4\) is not a multiple of num_key_value_heads \(3\)"),
    hf_case("tokenizer-missing", "no tokenizer.json", remove("tokenizer.json"), 3,
            r"model/tokenizer\.json: cannot read the file"),
    hf_case("tokenizer-corrupt", "tokenizer.json cut after 500 bytes",
            cut("tokenizer.json", 500), 2,
            r"model/tokenizer\.json: .*(JSON|parse)"),
    hf_case("tokenizer-mismatch", "tokenizer of 403 tokens for a model of 300 embeddings",
            lambda ws, folder: ws.write("model/tokenizer.json", json.dumps(tokenizer_json(n_tokens=403))), 2,
            r"model: the tokenizer has 403 tokens but the model only 300 embeddings"),
    hf_case("tokenizer-config-eos", "tokenizer_config.json names an eos_token the vocabulary lacks",
            json_file("tokenizer_config.json", set_key("eos_token", "<|nope|>")), 2,
            r"model/tokenizer_config\.json: eos_token: \"<\|nope\|>\" is not in the vocabulary"),
]
