"""transformers' own generate() under lockstep_kernels: random-weight Llama, Qwen3 and GPT-2 models
(built with save_pretrained, loaded with from_pretrained), ragged prompts left-padded into one batch
with an attention mask, greedy and seeded sampling. Inside the mode every row's tokens and every
step's logits are bitwise those of the same prompt generated alone; with stock kernels (the
negative control) at least one row's logits differ, and seeded sampling picks other tokens.

Prompts plus new tokens stay under 256 positions: lockstep's attention reduces keys in splits at
fixed positions (0, 256, ...), and left padding shifts a row's keys against those boundaries, so a
padded row longer than 256 positions is not guaranteed its unpadded bits (README, "For PyTorch
users")."""
import pytest
import torch
import transformers

import lockstep_kernels as lk
from package_support import DEVICES

PROMPT_LENGTHS = (5, 37, 120, 64)
NEW_TOKENS = 8
PAD = 0


def tiny(family):
    common = dict(vocab_size=1024, max_position_embeddings=512, tie_word_embeddings=False)
    if family == "llama":
        return transformers.LlamaConfig(hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, **common)
    if family == "qwen3":
        return transformers.Qwen3Config(hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, head_dim=32, **common)
    return transformers.GPT2Config(vocab_size=1024, n_positions=512, n_embd=128, n_layer=2, n_head=4)


# fp32 on the CPU, bf16 on CUDA (ci/gpu-python.sh).
@pytest.fixture(scope="module", params=[(f, d) for d in DEVICES for f in ("llama", "qwen3", "gpt2")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def model(request, tmp_path_factory):
    family, device = request.param
    torch.manual_seed(0)
    built = transformers.AutoModelForCausalLM.from_config(tiny(family))
    folder = tmp_path_factory.mktemp(family)
    built.save_pretrained(folder)
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    loaded = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa",
                                                               dtype=dtype).to(device).eval()
    loaded.generation_config.eos_token_id = None
    loaded.generation_config.pad_token_id = PAD
    return loaded


def prompts():
    g = torch.Generator().manual_seed(3)
    return [torch.randint(1, 1024, (n,), generator=g) for n in PROMPT_LENGTHS]


def left_padded(batch):
    width = max(len(p) for p in batch)
    ids = torch.full((len(batch), width), PAD)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for i, p in enumerate(batch):
        ids[i, width - len(p):] = p
        mask[i, width - len(p):] = 1
    return ids, mask


def generate(model, batch, sample):
    ids, mask = (t.to(model.device) for t in left_padded(batch))
    options = dict(do_sample=True, temperature=0.9, top_k=50, top_p=0.95) if sample else dict(do_sample=False)
    torch.manual_seed(1234)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                             output_logits=True, return_dict_in_generate=True, **options)
    tokens = out.sequences[:, ids.shape[1]:]
    logits = torch.stack(out.logits, 1)  # [batch, step, vocab]
    return tokens, logits


def rows_differing_from_alone(model, sample):
    batch = prompts()
    tokens, logits = generate(model, batch, sample)
    differ_tokens, differ_logits = [], []
    for i, p in enumerate(batch):
        alone_tokens, alone_logits = generate(model, [p], sample)
        if not torch.equal(tokens[i], alone_tokens[0]):
            differ_tokens.append(i)
        if not torch.equal(logits[i], alone_logits[0]):
            differ_logits.append(i)
    return differ_tokens, differ_logits


@pytest.mark.parametrize("sample", [False, True], ids=["greedy", "seeded-sampling"])
def test_every_row_equals_its_prompt_alone_inside_the_mode(model, sample):
    with lk.batch_invariant():
        differ_tokens, differ_logits = rows_differing_from_alone(model, sample)
    assert differ_tokens == [] and differ_logits == [], (differ_tokens, differ_logits)


def test_negative_control_stock_rows_drift(model):
    differ_tokens, differ_logits = rows_differing_from_alone(model, sample=False)
    assert differ_logits, "stock kernels gave every row its solo bits: this test could not fail"
    sampled_tokens, _ = rows_differing_from_alone(model, sample=True)
    assert sampled_tokens, "stock seeded sampling gave every row its solo tokens"
