"""Golden proofs that are tampered, truncated, of another model or changed and re-sealed; golden files
that must not be overwritten."""
import hashlib
import json

from bad_case import Case, verify_args

RUN_OUTPUTS = ("out/results.json", "out/junit.xml", "out/proof.json")


def reseal(doc):
    """The digest lockstep writes (harness/PROOF.md): SHA-256 of the canonical JSON without digest/signature."""
    rest = {k: v for k, v in doc.items() if k not in ("digest", "signature")}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    doc["digest"] = {"algorithm": "sha256-canonical-json", "value": hashlib.sha256(text.encode()).hexdigest()}
    return doc


def flip_hex(sha):
    return ("0" if sha[0] != "0" else "1") + sha[1:]


def golden_case(id, input, change, code, message, outputs=(), model="hf", extra=(), env=None):
    """verify --golden with a golden file made from the tiny model and then changed by `change(doc)`
    (which may return the file's text instead)."""
    def setup(ws):
        doc = ws.golden_doc()
        text = change(doc) if change else None
        golden = ws.write("golden.proof.json", text if isinstance(text, str) else json.dumps(doc, indent=2))
        return verify_args(ws.hf_model(which=model), ws.path("out"), "--golden", golden, *extra)
    return Case(id, input, setup, code, message, outputs=outputs, env=env,
                forbidden=r"loading model" if code == 2 else None)


def change_logits_digest(doc):
    steps = doc["cases"][0]["step_logits_sha256"]
    steps[1] = flip_hex(steps[1])
    reseal(doc)


def proof_verify_case(id, input, change, message):
    def setup(ws):
        doc = ws.golden_doc()
        text = change(doc)
        return ["proof", "verify", ws.write("p.proof.json", text if isinstance(text, str) else json.dumps(doc))]
    return Case(id, input, setup, 2, message)


def export_over_existing(ws):
    existing = ws.golden("existing.proof.json")
    return ["proof", "export", "--model", ws.hf_model(), "--prompt", "Hi", "--max-new-tokens", "2",
            "--out", existing, "--out-dir", ws.path("out")]


CASES = [
    golden_case("proof-truncated", "golden file cut after 300 bytes", lambda d: json.dumps(d)[:300], 2,
                r"golden\.proof\.json: not valid JSON \(.*\); truncated or corrupted\?"),
    golden_case("proof-tampered", "an output id changed, digest not re-sealed",
                lambda d: d["cases"][0]["output_ids"].__setitem__(0, d["cases"][0]["output_ids"][0] + 1), 2,
                r"golden\.proof\.json: .*the file was changed after it was written"),
    golden_case("proof-wrong-schema", "schema 'lockstep.proof/0', re-sealed",
                lambda d: (d.__setitem__("schema", "lockstep.proof/0"), reseal(d)) and None, 2,
                r"golden\.proof\.json: .*'lockstep\.proof/0' is not supported"),
    golden_case("proof-not-object", "a JSON array instead of a proof", lambda d: "[1, 2, 3]", 2,
                r"golden\.proof\.json: .*expected a JSON object"),
    golden_case("proof-wrong-model", "a valid golden of another model (same shapes, other weights)", None, 2,
                r"golden\.proof\.json: the golden proof and this run are of different models: model \(sha256 "
                r"[0-9a-f]{16}…\) vs .*/ws/model \(sha256 [0-9a-f]{16}…\); use the golden file of this model",
                model="hf-other"),
    golden_case("proof-model-sha-edited", "the golden's model.file_sha256 edited, re-sealed",
                lambda d: (d["model"].__setitem__("file_sha256", "ab" * 32), reseal(d)) and None, 2,
                r"golden\.proof\.json: the golden proof and this run are of different models: model \(sha256 "
                r"abababababababab…\) vs .*/ws/model \(sha256 [0-9a-f]{16}…\)"),
    golden_case("proof-logits-digest-changed", "one step's logits digest changed and the file re-sealed",
                change_logits_digest, 1,
                r"verify: golden \(bits\): 1 of 1 cases differ .*\nverify: golden: first differing case 'prompt-1': "
                r"step 1", outputs=RUN_OUTPUTS),
    Case("proof-missing", "--golden names a file that does not exist (no --update-golden)",
         lambda ws: verify_args(ws.hf_model(), ws.path("out"), "--golden", ws.path("g.proof.json")), 2,
         r"g\.proof\.json does not exist; create it with --update-golden"),
    golden_case("proof-bad-level", "--golden-level fuzzy", None, 2,
                r"unknown proof level 'fuzzy' \(expected bits, tokens or canonical\)",
                extra=("--golden-level", "fuzzy")),
    Case("golden-update-without-path", "--update-golden without --golden",
         lambda ws: verify_args(ws.hf_model(), ws.path("out"), "--update-golden"), 2,
         r"--update-golden needs --golden PATH"),
    golden_case("golden-update-nondeterministic", "--update-golden on a run that is not deterministic itself "
                "(TEST-ONLY fault: run-2's logits moved by one ULP)", None, 1,
                r"verify: not writing .*golden\.proof\.json: this run was not deterministic itself",
                outputs=RUN_OUTPUTS, extra=("--update-golden", "--runs", "2"),
                env={"LOCKSTEP_TEST_FAULT": "perturb-logit:run-2"}),
    Case("proof-export-exists", "proof export --out over an existing file without --force", export_over_existing, 2,
         r"existing\.proof\.json exists; it is replaced only with --force"),
    proof_verify_case("proof-verify-digest-mismatch", "proof verify: the digest value changed",
                      lambda d: d["digest"].__setitem__("value", flip_hex(d["digest"]["value"])),
                      r"p\.proof\.json: .*the file was changed after it was written"),
    proof_verify_case("proof-verify-count-mismatch", "proof verify: a logits digest removed, re-sealed",
                      lambda d: (d["cases"][0]["step_logits_sha256"].pop(), reseal(d)) and None,
                      r"p\.proof\.json: .*2 logits digests for 3 output ids"),
]
