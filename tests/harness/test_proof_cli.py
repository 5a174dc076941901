"""Golden proofs end to end: `lockstep verify --golden/--update-golden` and
`lockstep proof verify|diff` on the real model, and every way a proof file can
be wrong: tampered, truncated, wrong schema, wrong model, and a valid proof
whose logits digest differs in one byte (a determinism failure, exit 1, with
the first divergent case and step named).
"""
import hashlib
import json
import subprocess

import pytest
from junitparser import JUnitXml

from test_cli import lockstep

PROMPTS = ["What is 2+2?", "Name a color."]
GOLDEN_HASH_ALGORITHM = "sha256-canonical-json"


def verify(binary, model, out_dir, golden, *extra, env=None):
    args = ["verify", "--model", model, "--runs", "1", "--processes", "0", "--max-new-tokens", "6",
            "--out-dir", out_dir, "--golden", golden]
    for prompt in PROMPTS:
        args += ["--prompt", prompt]
    return lockstep(binary, *args, *extra, env=env)


def canonical_digest(document):
    """The digest lockstep writes: SHA-256 of the document without digest and
    signature, keys sorted, compact, ASCII (see harness/PROOF.md)."""
    rest = {k: v for k, v in document.items() if k not in ("digest", "signature")}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def reseal(document):
    document["digest"] = {"algorithm": GOLDEN_HASH_ALGORITHM, "value": canonical_digest(document)}
    return document


def flip_hex(sha):
    return ("0" if sha[0] != "0" else "1") + sha[1:]


@pytest.fixture(scope="module")
def golden(lockstep_bin, default_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("golden") / "model" / "cpu-x86_64.proof.json"
    out = tmp_path_factory.mktemp("out")
    missing = verify(lockstep_bin, default_model, out, path)
    assert missing.returncode == 2, missing.stderr
    assert "--update-golden" in missing.stderr and not path.exists()
    made = verify(lockstep_bin, default_model, out, path, "--update-golden", "--create-golden-dir")
    assert made.returncode == 0, made.stderr
    assert "golden: wrote" in made.stderr
    return path


def test_golden_written_is_a_valid_proof_with_python_checkable_digest(golden):
    doc = json.loads(golden.read_text())
    assert doc["schema"] == "lockstep.proof/1"
    assert doc["digest"]["value"] == canonical_digest(doc)
    assert doc["runtime"]["environment"]["mode"] == "batch_invariant"
    assert [c["id"] for c in doc["cases"]] == ["prompt-1", "prompt-2"]
    for case in doc["cases"]:
        assert len(case["step_logits_sha256"]) == len(case["output_ids"]) == 6


def test_run_reproduces_its_golden_bit_for_bit(lockstep_bin, default_model, golden, tmp_path):
    before = golden.read_bytes()
    result = verify(lockstep_bin, default_model, tmp_path, golden)
    assert result.returncode == 0, result.stderr
    assert "golden (bits): 0 of 2 cases differ" in result.stderr
    assert golden.read_bytes() == before, "a plain verify must never rewrite the golden file"
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["golden"]["verdict"] == "pass" and results["verdict"] == "pass"
    (suite,) = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    golden = [c for c in suite if c.name == "golden"]
    assert [c.classname for c in golden] == ["prompts.prompt-1", "prompts.prompt-2"] and all(c.is_passed for c in golden)


def test_proof_verify_accepts_the_golden(lockstep_bin, golden):
    result = lockstep(lockstep_bin, "proof", "verify", golden)
    assert result.returncode == 0, result.stderr
    assert "valid lockstep.proof/1 proof" in result.stdout and "2 cases, 12 steps" in result.stdout


def test_one_changed_logits_digest_is_a_determinism_failure_naming_case_and_step(
        lockstep_bin, default_model, golden, tmp_path):
    doc = json.loads(golden.read_text())
    doc["cases"][1]["step_logits_sha256"][3] = flip_hex(doc["cases"][1]["step_logits_sha256"][3])
    changed = tmp_path / "changed.proof.json"
    changed.write_text(json.dumps(reseal(doc), indent=2))

    result = verify(lockstep_bin, default_model, tmp_path / "out", changed)
    assert result.returncode == 1, result.stderr
    assert "first differing case 'prompt-2': step 3" in result.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    verdicts = {c["id"]: c for c in results["golden"]["cases"]}
    assert verdicts["prompt-1"]["match"] and not verdicts["prompt-2"]["match"]
    assert verdicts["prompt-2"]["first_divergence"]["step"] == 3
    assert verdicts["prompt-2"]["first_divergence"]["reason"] == "logits"
    (suite,) = JUnitXml.fromfile(str(tmp_path / "out" / "junit.xml"))
    failed = [c for c in suite if c.name == "golden" and not c.is_passed]
    assert [c.classname for c in failed] == ["prompts.prompt-2"] and "step 3" in failed[0].result[0].message

    diff = lockstep(lockstep_bin, "proof", "diff", golden, changed, "--json")
    assert diff.returncode == 1
    report = json.loads(diff.stdout)
    assert report["verdict"] == "differ" and report["cases"][1]["first_divergence"]["step"] == 3
    # The tokens did not change, so at level tokens the proofs agree.
    assert lockstep(lockstep_bin, "proof", "diff", golden, changed, "--level", "tokens").returncode == 0


def test_canonical_level_tolerates_one_ulp_but_not_a_moved_logit(lockstep_bin, fault_bin, default_model, golden,
                                                                  tmp_path):
    """A run whose step-0 top logit moved by one ULP fails at level bits and passes at level canonical;
    a golden candidate moved by 1/64 fails canonical, naming the case, the step and the candidates."""
    doc = json.loads(golden.read_text())
    steps = doc["cases"][0]["step_top_canonical"]
    assert len(steps) == len(doc["cases"][0]["output_ids"]) and all(len(s) == 5 for s in steps)
    assert all(isinstance(units, int) for s in steps for _, units in s)
    fault = {"LOCKSTEP_TEST_FAULT": "perturb-logit:run-1"}
    bits = verify(fault_bin, default_model, tmp_path / "bits", golden, env=fault)
    assert bits.returncode == 1 and "step 0" in bits.stderr, bits.stderr
    canonical = verify(fault_bin, default_model, tmp_path / "canonical", golden, "--golden-level", "canonical",
                       env=fault)
    assert canonical.returncode == 0, canonical.stderr

    doc["cases"][1]["step_top_canonical"][2][1][1] += 16
    moved = tmp_path / "moved.proof.json"
    moved.write_text(json.dumps(reseal(doc), indent=2))
    diff = lockstep(lockstep_bin, "proof", "diff", golden, moved, "--level", "canonical")
    assert diff.returncode == 1, diff.stderr
    assert "prompt-2" in diff.stderr and "step 2" in diff.stderr and "canonical tolerance" in diff.stderr
    loose = lockstep(lockstep_bin, "proof", "diff", golden, moved, "--level", "canonical", "--tolerance", "0.02")
    assert loose.returncode == 0, loose.stderr
    assert lockstep(lockstep_bin, "proof", "diff", golden, moved, "--level", "bits").returncode == 0
    bad = lockstep(lockstep_bin, "proof", "diff", golden, moved, "--level", "canonical", "--tolerance", "-1")
    assert bad.returncode == 2 and "tolerance" in bad.stderr


def test_canonical_level_needs_the_rounded_candidates(lockstep_bin, golden, tmp_path):
    doc = json.loads(golden.read_text())
    for case in doc["cases"]:
        del case["step_top_canonical"]
    old = tmp_path / "old.proof.json"
    old.write_text(json.dumps(reseal(doc), indent=2))
    assert lockstep(lockstep_bin, "proof", "diff", golden, old, "--level", "bits").returncode == 0
    result = lockstep(lockstep_bin, "proof", "diff", golden, old, "--level", "canonical")
    assert result.returncode == 2 and "no rounded candidates" in result.stderr, result.stderr


def edit(golden, tmp_path, name, change):
    doc = json.loads(golden.read_text())
    text = change(doc)
    path = tmp_path / name
    path.write_text(text if isinstance(text, str) else json.dumps(doc, indent=2))
    return path


BAD_PROOFS = {
    "tampered": (lambda d: d["cases"][0]["output_ids"].__setitem__(0, d["cases"][0]["output_ids"][0] + 1),
                 "the file was changed after it was written"),
    "truncated": (lambda d: json.dumps(d)[:500], "not valid JSON"),
    "wrong schema": (lambda d: (d.__setitem__("schema", "lockstep.proof/0"), reseal(d)) and None,
                     "'lockstep.proof/0' is not supported"),
    "not a proof": (lambda d: "[1, 2, 3]", "expected a JSON object"),
    "digest count": (lambda d: (d["cases"][0]["step_logits_sha256"].pop(), reseal(d)) and None,
                     "5 logits digests for 6 output ids"),
    "bad hex": (lambda d: (d["cases"][0]["step_logits_sha256"].__setitem__(0, "XYZ"), reseal(d)) and None,
                "expected a SHA-256 in lower-case hex"),
    "canonical count": (lambda d: (d["cases"][0]["step_top_canonical"].pop(), reseal(d)) and None,
                        "expected one list of candidates per output id"),
    "canonical float": (lambda d: (d["cases"][0]["step_top_canonical"][0][0].__setitem__(1, 1.5), reseal(d)) and None,
                        "expected [id, units] with integer units"),
}


@pytest.mark.parametrize("kind", sorted(BAD_PROOFS))
def test_bad_proofs_are_rejected_with_exit_2_before_any_run(lockstep_bin, default_model, golden, tmp_path, kind):
    change, message = BAD_PROOFS[kind]
    bad = edit(golden, tmp_path, "bad.proof.json", change)
    checked = lockstep(lockstep_bin, "proof", "verify", bad)
    assert checked.returncode == 2 and message in checked.stderr, checked.stderr
    result = verify(lockstep_bin, default_model, tmp_path / "out", bad)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "loading model" not in result.stderr, "a bad golden file must fail before the model is loaded"


def test_wrong_model_proof_is_bad_input(lockstep_bin, default_model, golden, tmp_path):
    other = edit(golden, tmp_path, "other.proof.json",
                 lambda d: (d["model"].__setitem__("file_sha256", "ab" * 32), reseal(d)) and None)
    result = verify(lockstep_bin, default_model, tmp_path / "out", other)
    assert result.returncode == 2 and "different models" in result.stderr, result.stderr
    assert lockstep(lockstep_bin, "proof", "diff", golden, other).returncode == 2


def test_golden_of_another_mode_is_not_compared(lockstep_bin, default_model, golden, tmp_path):
    result = verify(lockstep_bin, default_model, tmp_path, golden, "--mode", "off")
    assert result.returncode == 2 and "made with --mode batch_invariant" in result.stderr, result.stderr


def test_golden_of_another_dtype_or_device_class_is_not_compared(lockstep_bin, default_model, tmp_path):
    """The committed sm90 golden (nightly suite, CUDA bf16) cannot gate a CPU run: refused before any
    run, with exit 2 and the reason, instead of reporting every case as a determinism failure."""
    sm90 = ROOT / "golden" / "smollm2-135m-instruct" / "sm90.proof.json"
    fp32 = verify(lockstep_bin, default_model, tmp_path / "a", sm90)
    assert fp32.returncode == 2 and "made in bf16, this run is in fp32" in fp32.stderr, fp32.stderr
    bf16 = verify(lockstep_bin, default_model, tmp_path / "b", sm90, "--dtype", "bf16")
    assert bf16.returncode == 2, bf16.stderr
    assert "NVIDIA H100" in bf16.stderr and "only portable-mode proofs compare across hardware" in bf16.stderr
    assert "loaded" not in fp32.stderr + bf16.stderr


def test_proofs_record_the_device_and_dtype_they_ran_in(lockstep_bin, default_model, tmp_path):
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--runs", "1", "--processes", "0",
                      "--max-new-tokens", "2", "--prompt", "Hi", "--dtype", "bf16", "--out-dir", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    proof = json.loads((tmp_path / "proof.json").read_text())
    assert (proof["runtime"]["device"], proof["runtime"]["dtype"]) == ("cpu", "bf16")
    assert proof["runtime"]["environment"]["dtype"] == "bf16"
    tampered = tmp_path / "tampered.proof.json"
    proof["runtime"]["dtype"] = "fp32"
    tampered.write_text(json.dumps(reseal(proof)))
    bad = lockstep(lockstep_bin, "proof", "verify", tampered)
    assert bad.returncode == 2 and "disagree with runtime.environment" in bad.stderr, bad.stderr


def test_update_golden_replaces_only_when_asked(lockstep_bin, default_model, golden, tmp_path):
    copy = tmp_path / "g.proof.json"
    copy.write_bytes(golden.read_bytes())
    stale = json.loads(copy.read_text())
    stale["created_at"] = "2000-01-01T00:00:00Z"
    copy.write_text(json.dumps(reseal(stale)))
    assert verify(lockstep_bin, default_model, tmp_path / "a", copy).returncode == 0
    assert json.loads(copy.read_text())["created_at"] == "2000-01-01T00:00:00Z"
    assert verify(lockstep_bin, default_model, tmp_path / "b", copy, "--update-golden").returncode == 0
    assert json.loads(copy.read_text())["created_at"] != "2000-01-01T00:00:00Z"
    assert lockstep(lockstep_bin, "verify", "--prompt", "x", "--update-golden").returncode == 2


ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
COMMITTED_GOLDEN = ROOT / "golden" / "smollm2-135m-instruct" / "cpu-x86_64.proof.json"


@pytest.mark.parametrize("threads", ["1", "3"])
def test_committed_golden_reproduces_at_other_thread_counts(lockstep_bin, default_model, tmp_path, threads):
    """The gate's golden file was made with the machine's default thread count;
    the invariant kernels (and the scalar RoPE table) make the bits the same
    on any other (stock ATen's silu/cos/sin would not be)."""
    result = lockstep(lockstep_bin, "verify", "--model", default_model, "--suite", ROOT / "suites" / "ci-gate.json",
                      "--runs", "1", "--processes", "0", "--no-batch-plan", "--out-dir", tmp_path,
                      "--golden", COMMITTED_GOLDEN, env={"OMP_NUM_THREADS": threads})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "golden (bits): 0 of 8 cases differ" in result.stderr


def make_key(tmp_path, name):
    private = tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", private], check=True, capture_output=True)
    public = tmp_path / f"{name}.pub"
    subprocess.run(["openssl", "pkey", "-in", private, "-pubout", "-out", public], check=True, capture_output=True)
    return private, public


def test_signed_proof_verifies_and_any_change_or_other_key_is_rejected(lockstep_bin, golden, tmp_path):
    private, public = make_key(tmp_path, "ours")
    _, other_public = make_key(tmp_path, "theirs")
    signed = tmp_path / "signed.proof.json"
    signed.write_bytes(golden.read_bytes())
    result = lockstep(lockstep_bin, "proof", "sign", signed, "--key", private)
    assert result.returncode == 0, result.stderr
    doc = json.loads(signed.read_text())
    assert doc["signature"]["algorithm"] == "ed25519"
    assert doc["digest"] == json.loads(golden.read_text())["digest"], "signing must not change the digest"

    ok = lockstep(lockstep_bin, "proof", "verify", signed, "--public-key", public)
    assert ok.returncode == 0 and "signed (ed25519" in ok.stdout, ok.stderr
    wrong_key = lockstep(lockstep_bin, "proof", "verify", signed, "--public-key", other_public)
    assert wrong_key.returncode == 2 and "signed by another key" in wrong_key.stderr
    unsigned = lockstep(lockstep_bin, "proof", "verify", golden, "--public-key", public)
    assert unsigned.returncode == 2 and "not signed" in unsigned.stderr

    # Change a digest and re-seal the document digest: only the key could re-sign it.
    forged = json.loads(signed.read_text())
    forged["cases"][0]["step_logits_sha256"][0] = flip_hex(forged["cases"][0]["step_logits_sha256"][0])
    reseal(forged)
    forged_path = tmp_path / "forged.proof.json"
    forged_path.write_text(json.dumps(forged))
    rejected = lockstep(lockstep_bin, "proof", "verify", forged_path)
    assert rejected.returncode == 2 and "signature: does not verify" in rejected.stderr, rejected.stderr

    not_ed25519 = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out",
                    not_ed25519], check=True, capture_output=True)
    assert lockstep(lockstep_bin, "proof", "sign", signed, "--key", not_ed25519).returncode == 2


def test_proof_export_writes_a_proof_that_diffs_equal_to_the_golden(lockstep_bin, default_model, golden, tmp_path):
    out = tmp_path / "exported.proof.json"
    args = ["proof", "export", "--model", default_model, "--max-new-tokens", "6", "--out", out,
            "--out-dir", tmp_path / "o"]
    for prompt in PROMPTS:
        args += ["--prompt", prompt]
    first = lockstep(lockstep_bin, *args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert lockstep(lockstep_bin, "proof", "verify", out).returncode == 0
    assert lockstep(lockstep_bin, "proof", "diff", golden, out).returncode == 0
    again = lockstep(lockstep_bin, *args)
    assert again.returncode == 2 and "replaced only with --force" in again.stderr
    assert lockstep(lockstep_bin, *args, "--force").returncode == 0


def test_proof_merge_tables_agreement_across_sources_and_is_verifiable(lockstep_bin, golden, tmp_path):
    """Three proofs of one suite: two identical, one with another step digest in case 2 (another GPU
    type, say). The set names who agrees with whom, --require-identical bits fails on it, and the
    written set verifies; a changed set or a member of another model is bad input."""
    same = tmp_path / "h100-gpu1.proof.json"
    same.write_text(golden.read_text())
    doc = json.loads(golden.read_text())
    doc["cases"][1]["step_logits_sha256"][2] = flip_hex(doc["cases"][1]["step_logits_sha256"][2])
    other = tmp_path / "a100-gpu0.proof.json"
    other.write_text(json.dumps(reseal(doc), indent=2))
    out = tmp_path / "set.json"

    report = lockstep(lockstep_bin, "proof", "merge", golden, same, "--out", out, "--require-identical", "bits")
    assert report.returncode == 0, report.stderr
    assert "2 proofs, 2 cases: 2 identical in every bit, 2 in tokens" in report.stderr
    again = lockstep(lockstep_bin, "proof", "merge", golden, same, "--out", out)
    assert again.returncode == 2 and "--force" in again.stderr

    three = lockstep(lockstep_bin, "proof", "merge", golden, same, other, "--out", out, "--force",
                     "--require-identical", "bits", "--json")
    assert three.returncode == 1, three.stderr
    assert "case 'prompt-2': 2 bit variant(s) {cpu-x86_64, h100-gpu1} | {a100-gpu0}, 1 token sequence(s)" in three.stderr
    assert json.loads(three.stdout) == {"sources": 3, "cases": 2, "identical_bits": 1, "identical_tokens": 2}
    assert lockstep(lockstep_bin, "proof", "merge", golden, same, other, "--out", out, "--force",
                    "--require-identical", "tokens").returncode == 0
    merged = json.loads(out.read_text())
    assert merged["schema"] == "lockstep.proofset/1" and len(merged["proofs"]) == 3
    assert merged["digest"]["value"] == canonical_digest(merged)
    assert [s["label"] for s in merged["sources"]] == ["cpu-x86_64", "h100-gpu1", "a100-gpu0"]
    verified = lockstep(lockstep_bin, "proof", "verify", out)
    assert verified.returncode == 0 and "valid lockstep.proofset/1 of 3 proofs" in verified.stdout, verified.stderr

    merged["cases"][1]["token_classes"] = 7
    lied = tmp_path / "lied.json"
    lied.write_text(json.dumps(merged))
    result = lockstep(lockstep_bin, "proof", "verify", lied)
    assert result.returncode == 2 and "the file was changed after it was written" in result.stderr
    merged["digest"]["value"] = canonical_digest(merged)
    lied.write_text(json.dumps(merged))
    result = lockstep(lockstep_bin, "proof", "verify", lied)
    assert result.returncode == 2 and "agreement table does not match" in result.stderr, result.stderr

    doc["model"]["file_sha256"] = "0" * 64
    foreign = tmp_path / "foreign.proof.json"
    foreign.write_text(json.dumps(reseal(doc), indent=2))
    result = lockstep(lockstep_bin, "proof", "merge", golden, foreign, "--out", tmp_path / "x.json")
    assert result.returncode == 2 and "of another model" in result.stderr, result.stderr
    assert not (tmp_path / "x.json").exists()
