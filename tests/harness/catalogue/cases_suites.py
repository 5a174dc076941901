"""Malformed suite files, run by `lockstep verify --suite` (they must fail before the model loads)."""
import json

from bad_case import Case


def good_suite():
    return {"schema": "lockstep.suite/0", "name": "s", "defaults": {"max_new_tokens": 2, "chat": False},
            "cases": [{"id": "a", "prompt": "Hi"}, {"id": "b", "prompt": "2+2="}]}


def suite_case(id, input, change, message, code=2):
    """`change(suite)` edits the dict (or returns the file's text instead)."""
    def setup(ws):
        doc = good_suite()
        text = change(doc)
        suite = ws.write("suite.json", text if isinstance(text, str) else json.dumps(doc))
        return ["verify", "--model", ws.hf_model(), "--suite", suite, "--runs", "1", "--processes", "0",
                "--out-dir", ws.path("out")]
    return Case(id, input, setup, code, message, forbidden=r"loading model")


def case0(key, value):
    return lambda s: s["cases"][0].__setitem__(key, value)


CASES = [
    suite_case("suite-not-json", "a suite file that is not JSON", lambda s: "cases: [a, b]",
               r"suite .*suite\.json: invalid JSON"),
    suite_case("suite-truncated", "a suite file cut in half", lambda s: json.dumps(s)[:40],
               r"suite .*suite\.json: invalid JSON"),
    suite_case("suite-wrong-schema", "schema 'lockstep.suite/9'", lambda s: s.__setitem__("schema", "lockstep.suite/9"),
               r"suite .*suite\.json: schema: unknown schema 'lockstep\.suite/9'"),
    suite_case("suite-not-object", "a JSON array at the top level", lambda s: "[1, 2]",
               r"suite .*suite\.json: expected a JSON object at the top level"),
    suite_case("suite-unknown-key", "a case with the misspelt key 'promt'", case0("promt", "x"),
               r"suite .*suite\.json: cases\[0\]\.promt: unknown key"),
    suite_case("suite-negative-max-new-tokens", "max_new_tokens -5 in a case", case0("max_new_tokens", -5),
               r"suite .*suite\.json: cases\[0\]\.max_new_tokens: must be between 1 and \d+, got -5"),
    suite_case("suite-wrong-type", "max_new_tokens \"8\" (a string)", case0("max_new_tokens", "8"),
               r"suite .*suite\.json: cases\[0\]\.max_new_tokens: expected an integer, got string"),
    suite_case("suite-duplicate-id", "two cases with id 'b'", case0("id", "b"),
               r"suite .*suite\.json: cases\[1\]\.id: duplicate id 'b' \(first used by cases\[0\]"),
    suite_case("suite-missing-prompt", "a case without 'prompt'", lambda s: s["cases"][0].pop("prompt") and None,
               r"suite .*suite\.json: cases\[0\]: missing field 'prompt'"),
    suite_case("suite-no-cases", "an empty case list", lambda s: s.__setitem__("cases", []),
               r"suite .*suite\.json: cases: a suite needs at least one case"),
    suite_case("suite-bad-check", "check.kind 'dance'", lambda s: s.__setitem__("check", {"kind": "dance"}),
               r"suite .*suite\.json: check\.kind: 'dance' is not one of verify, reload, stress, bench"),
    Case("suite-missing-file", "--suite names a file that does not exist",
         lambda ws: ["verify", "--model", ws.hf_model(), "--suite", ws.path("nope.json"), "--out-dir", ws.path("out")],
         2, r"suite .*nope\.json: cannot open the file"),
]
