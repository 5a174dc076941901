"""GPT-2's byte-level BPE alphabet, shared by the scripts that write tokenizer.json files
(ci/make_tie_model.py, fuzz/make_seeds.py, tests/harness/catalogue/tiny_models.py)."""


def byte_level_alphabet():
    """Entry b is the character that spells byte b: printable Latin-1 bytes stand for
    themselves, the others map to chr(256 + n) in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]
