"""lockstep vs Hugging Face transformers on the same GGUF file (SmolLM2-135M-Instruct Q4_1).

transformers dequantizes the GGUF with the gguf package and runs LlamaForCausalLM in fp32; lockstep
dequantizes and runs its own libtorch forward. The checks:
  * token ids: identical for a table of tricky strings and for chat-formatted prompts;
  * greedy continuations: identical token sequences for 10 prompts;
  * logits: every step's full logits vector agrees within LOGITS_RTOL, measured as
    max|ours - ref| / max|ref| (fp32 with the same weights lands near 1e-6; we allow 1e-4, far under
    the 1e-3 the issue names), and the test shows the same check fails on a perturbed weight.
"""
import json
import subprocess

import numpy as np
import pytest
import torch

LOGITS_RTOL = 1e-4
MAX_NEW = 24

TRICKY_STRINGS = [
    "Hello, world!",
    "  leading and trailing spaces  ",
    "runs   of    spaces\t\ttabs\n\n\nnewlines",
    "digits 0123456789 and 3.14159 and 1,000,000",
    "unicode: héllo naïve café Ærøskøbing ßtraße",
    "CJK: 日本語のテキスト, 中文文本, 한국어",
    "emoji: 😀🎉👍🏽 👨‍👩‍👧‍👦 🇫🇷",
    "code: def f(x):\n    return x**2  # square\n",
    "int main() { return a->b[i++] >= 0 ? 1 : -1; }",
    "contractions: it's they're we've I'm you'll he'd",
    "mixed: Привет мир! Γειά σου κόσμε! مرحبا",
    "<|im_start|>user\nhi<|im_end|>",
    "",
    " ",
    "\n",
    "a" * 300,
]

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain recursion in one sentence.",
    "What is 12 + 35?",
    "List three fruits.",
    "Translate 'thank you' into Spanish.",
    "Write a Python function that adds two numbers.",
    "Who wrote Romeo and Juliet?",
    "Give me a synonym for 'happy'.",
    "Why do leaves change color in autumn?",
]


@pytest.fixture(scope="module")
def hf(default_model):
    transformers = pytest.importorskip("transformers")
    torch.set_num_threads(2)
    tok = transformers.AutoTokenizer.from_pretrained(default_model.parent, gguf_file=default_model.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        default_model.parent, gguf_file=default_model.name, dtype=torch.float32)
    model.eval()
    return tok, model


def lockstep_json(lockstep_bin, default_model, *args):
    proc = subprocess.run([str(lockstep_bin), *args, "--model", str(default_model), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def ours(lockstep_bin, default_model, tmp_path_factory):
    """Greedy runs of every prompt: JSON record and every step's logits."""
    out = {}
    tmp = tmp_path_factory.mktemp("ours")
    for i, prompt in enumerate(PROMPTS):
        npy = tmp / f"logits{i}.npy"
        record = lockstep_json(lockstep_bin, default_model, "run", "--prompt", prompt,
                               "--max-new-tokens", str(MAX_NEW), "--dump-logits", str(npy))
        out[prompt] = (record, np.load(npy))
    return out


def relative_error(ours, ref):
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(np.asarray(ours, dtype=np.float64) - ref)) / np.max(np.abs(ref)))


def test_token_ids_identical_on_tricky_strings(hf, lockstep_bin, default_model, tmp_path):
    tok, _ = hf
    path = tmp_path / "strings.json"
    path.write_text(json.dumps(TRICKY_STRINGS), encoding="utf-8")
    got = lockstep_json(lockstep_bin, default_model, "tokenize", "--input", str(path))
    for text, ids in zip(TRICKY_STRINGS, got, strict=True):
        assert ids == tok(text).input_ids, repr(text)


def test_chat_prompt_ids_identical(hf, ours):
    tok, _ = hf
    for prompt, (record, _) in ours.items():
        ref = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=True,
                                      add_generation_prompt=True, return_dict=False)
        assert record["prompt_ids"] == list(ref), prompt


def hf_generate(model, prompt_ids):
    ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW, do_sample=False,
                             output_logits=True, return_dict_in_generate=True, eos_token_id=2, pad_token_id=2)
    tokens = out.sequences[0, ids.shape[1]:].tolist()
    logits = torch.stack([step[0] for step in out.logits]).numpy()
    return tokens, logits


def test_greedy_continuations_and_logits_match(hf, ours):
    _, model = hf
    worst = 0.0
    for prompt, (record, logits) in ours.items():
        tokens, ref_logits = hf_generate(model, record["prompt_ids"])
        assert record["output_ids"] == tokens, prompt
        assert logits.shape == ref_logits.shape
        for step in range(len(tokens)):
            err = relative_error(logits[step], ref_logits[step])
            worst = max(worst, err)
            assert err < LOGITS_RTOL, f"{prompt!r} step {step}: relative error {err:.3g}"
    print(f"worst relative logits error over {len(ours)} prompts: {worst:.3g}")


def test_comparison_fails_on_a_perturbed_weight(hf, ours):
    """The same check, against a transformers model with one RMSNorm weight nudged by 1%."""
    _, model = hf
    prompt = PROMPTS[0]
    record, logits = ours[prompt]
    weight = model.model.layers[10].post_attention_layernorm.weight
    saved = weight.detach().clone()
    try:
        with torch.no_grad():
            weight[7] *= 1.01
            ref = model(torch.tensor([record["prompt_ids"]])).logits[0, -1].numpy()
        assert relative_error(logits[0], ref) > LOGITS_RTOL
    finally:
        with torch.no_grad():
            weight.copy_(saved)
