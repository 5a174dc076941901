"""Tiny synthetic models for the bad-input catalogue, written byte by byte (numpy only).

- a Hugging Face Llama folder: config.json, model.safetensors (F32), tokenizer.json (byte-level BPE,
  256 byte tokens and three ChatML specials), tokenizer_config.json (a ChatML template);
- a GGUF v3 Llama file with the same weights and tokenizer, laid out so that every corruption can
  name the byte it hits (`GgufLayout`).

Both load and generate in lockstep in well under a second; the catalogue corrupts copies of them.
"""
import dataclasses
import json
import pathlib
import struct
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "ci"))
from byte_level import byte_level_alphabet  # noqa: E402

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, CONTEXT = 300, 64, 1, 4, 2, 128, 256
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]   # ids 256, 257, 258
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def llama_config(vocab=VOCAB, **overrides):
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
              "intermediate_size": FFN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
              "num_key_value_heads": KV_HEADS, "vocab_size": vocab, "max_position_embeddings": CONTEXT,
              "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": True, "hidden_act": "silu",
              "bos_token_id": 258, "eos_token_id": 257, "torch_dtype": "float32"}
    config.update(overrides)
    return config


def llama_tensors(seed=7, vocab=VOCAB):
    """HF names -> float32 arrays (HF layout [out, in])."""
    rng = np.random.default_rng(seed)
    head_dim = HIDDEN // HEADS

    def matrix(rows, cols):
        return (rng.standard_normal((rows, cols)) / cols ** 0.5).astype(np.float32)

    tensors = {"model.embed_tokens.weight": matrix(vocab, HIDDEN), "model.norm.weight": np.ones(HIDDEN, np.float32)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        tensors[p + "input_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        tensors[p + "post_attention_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        tensors[p + "self_attn.q_proj.weight"] = matrix(HEADS * head_dim, HIDDEN)
        tensors[p + "self_attn.k_proj.weight"] = matrix(KV_HEADS * head_dim, HIDDEN)
        tensors[p + "self_attn.v_proj.weight"] = matrix(KV_HEADS * head_dim, HIDDEN)
        tensors[p + "self_attn.o_proj.weight"] = matrix(HIDDEN, HEADS * head_dim)
        tensors[p + "mlp.gate_proj.weight"] = matrix(FFN, HIDDEN)
        tensors[p + "mlp.up_proj.weight"] = matrix(FFN, HIDDEN)
        tensors[p + "mlp.down_proj.weight"] = matrix(HIDDEN, FFN)
    return tensors


def safetensors_bytes(tensors, dtype="F32"):
    header, offset = {}, 0
    for name, t in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob + b"".join(t.tobytes() for t in tensors.values())


def padding_tokens(n_tokens):
    """Tokens 259.. up to n_tokens: the tokenizer covers every embedding row (or, above VOCAB, more)."""
    return [f"<pad_{i}>" for i in range(n_tokens - 256 - len(SPECIALS))]


def tokenizer_json(n_tokens=VOCAB):
    vocab = {t: i for i, t in enumerate(byte_level_alphabet())}
    vocab.update({t: 256 + len(SPECIALS) + i for i, t in enumerate(padding_tokens(n_tokens))})
    added = [{"id": 256 + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "vocab": vocab, "merges": []}}


def write_hf_llama(folder, seed=7):
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(llama_config(), indent=1))
    (folder / "model.safetensors").write_bytes(safetensors_bytes(llama_tensors(seed)))
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json()))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>", "add_bos_token": False,
         "chat_template": CHAT_TEMPLATE}))
    return folder


# ---- GGUF --------------------------------------------------------------------

GGUF_STRING, GGUF_ARRAY, GGUF_U32, GGUF_F32, GGUF_I32 = 8, 9, 4, 6, 5
GGML_F32 = 0


@dataclasses.dataclass
class GgufLayout:
    """Where each part of a written GGUF file begins (byte offsets into the file)."""
    data: bytes
    tensor_infos: int       # first tensor info (after the metadata)
    first_type_field: int   # the ggml type id of the first tensor info
    first_offset_field: int  # its data offset (relative to the data section)
    data_start: int


def _string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _kv(key, vtype, value):
    out = _string(key) + struct.pack("<I", vtype)
    if vtype == GGUF_STRING:
        return out + _string(value)
    if vtype == GGUF_U32:
        return out + struct.pack("<I", value)
    if vtype == GGUF_F32:
        return out + struct.pack("<f", value)
    elem_type, items = value
    out += struct.pack("<IQ", elem_type, len(items))
    if elem_type == GGUF_STRING:
        return out + b"".join(_string(s) for s in items)
    return out + b"".join(struct.pack("<i", v) for v in items)


def gguf_llama(seed=7, n_tokens=VOCAB):
    """A GGUF v3 Llama (F32 tensors, gpt2 tokenizer of n_tokens). q/k are stored in GGUF's rotary layout."""
    head_dim = HIDDEN // HEADS
    hf = llama_tensors(seed)

    def permute(w, heads):   # HF -> GGUF (llama.cpp's convert permutation)
        return w.reshape(heads, 2, w.shape[0] // heads // 2, w.shape[1]).swapaxes(1, 2).reshape(w.shape)

    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    for i in range(LAYERS):
        p, g = f"model.layers.{i}.", f"blk.{i}."
        names.update({p + "input_layernorm.weight": g + "attn_norm.weight",
                      p + "post_attention_layernorm.weight": g + "ffn_norm.weight",
                      p + "self_attn.q_proj.weight": g + "attn_q.weight",
                      p + "self_attn.k_proj.weight": g + "attn_k.weight",
                      p + "self_attn.v_proj.weight": g + "attn_v.weight",
                      p + "self_attn.o_proj.weight": g + "attn_output.weight",
                      p + "mlp.gate_proj.weight": g + "ffn_gate.weight",
                      p + "mlp.up_proj.weight": g + "ffn_up.weight",
                      p + "mlp.down_proj.weight": g + "ffn_down.weight"})
    tensors = {}
    for hf_name, w in hf.items():
        if hf_name.endswith("q_proj.weight"):
            w = permute(w, HEADS)
        elif hf_name.endswith("k_proj.weight"):
            w = permute(w, KV_HEADS)
        tensors[names[hf_name]] = np.ascontiguousarray(w)
    tokens = byte_level_alphabet() + SPECIALS + padding_tokens(n_tokens)
    kvs = [("general.architecture", GGUF_STRING, "llama"), ("general.name", GGUF_STRING, "tiny-llama"),
           ("llama.block_count", GGUF_U32, LAYERS), ("llama.embedding_length", GGUF_U32, HIDDEN),
           ("llama.feed_forward_length", GGUF_U32, FFN), ("llama.attention.head_count", GGUF_U32, HEADS),
           ("llama.attention.head_count_kv", GGUF_U32, KV_HEADS), ("llama.context_length", GGUF_U32, CONTEXT),
           ("llama.rope.freq_base", GGUF_F32, 10000.0),
           ("llama.attention.layer_norm_rms_epsilon", GGUF_F32, 1e-6),
           ("llama.rope.dimension_count", GGUF_U32, head_dim),
           ("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
           ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
           ("tokenizer.ggml.token_type", GGUF_ARRAY,
            (GGUF_I32, [1] * 256 + [3] * len(SPECIALS) + [1] * (len(tokens) - 256 - len(SPECIALS)))),
           ("tokenizer.ggml.merges", GGUF_ARRAY, (GGUF_STRING, [])),
           ("tokenizer.ggml.bos_token_id", GGUF_U32, 258), ("tokenizer.ggml.eos_token_id", GGUF_U32, 257),
           ("tokenizer.chat_template", GGUF_STRING, CHAT_TEMPLATE)]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(_kv(*kv) for kv in kvs)
    infos, offset, first_type, first_offset = b"", 0, None, None
    for name, w in tensors.items():
        info = _string(name) + struct.pack("<I", w.ndim) + b"".join(struct.pack("<Q", d) for d in reversed(w.shape))
        if first_type is None:
            first_type = len(head) + len(info)
            first_offset = first_type + 4
        infos += info + struct.pack("<IQ", GGML_F32, offset)
        offset += w.nbytes + (-w.nbytes % 32)
    data_start = len(head) + len(infos)
    data_start += -data_start % 32
    body = bytearray(head + infos)
    body += b"\0" * (data_start - len(body))
    for w in tensors.values():
        body += w.tobytes() + b"\0" * (-w.nbytes % 32)
    return GgufLayout(bytes(body), len(head), first_type, first_offset, data_start)
