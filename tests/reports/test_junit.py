"""JUnit XML from real results, as `lockstep report` writes it (the harness's one JUnit writer, the
one verify uses): valid against the shipped XSD (xmlschema, a real validator), and read back by
junitparser with the counts and messages that results.json holds."""
import json

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped

from report_testlib import ROOT, run_lockstep, without_batch_fields

XSD = ROOT / "reports" / "schema" / "junit.xsd"


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(XSD))


@pytest.fixture
def write(lockstep_bin, tmp_path):
    def junit(*paths):
        out = tmp_path / "junit.xml"
        run_lockstep(lockstep_bin, "report", *paths, "--out-dir", tmp_path / "out", "--junit", out, check_rc=0)
        return out
    return junit


def read(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("name", ["pass", "fail", "crash", "written", "sweep-off", "sweep", "bench", "compare"])
def test_every_kind_of_result_is_valid_junit(artifacts, schema, tmp_path, name, write):
    schema.validate(str(write(artifacts[name])))


def test_the_schema_rejects_what_consumers_reject(schema, tmp_path):
    bad = {
        "testcase without a name": '<testsuites><testsuite name="s" tests="1" failures="0" errors="0">'
                                   '<testcase classname="c"/></testsuite></testsuites>',
        "a count that is not a number": '<testsuites><testsuite name="s" tests="x" failures="0" errors="0"/></testsuites>',
        "failure and error together": '<testsuites><testsuite name="s" tests="1" failures="1" errors="1">'
                                      '<testcase classname="c" name="n"><failure/><error/></testcase>'
                                      '</testsuite></testsuites>',
        "a negative time": '<testsuites><testsuite name="s" tests="0" failures="0" errors="0" time="-1"/></testsuites>',
    }
    for why, text in bad.items():
        assert not schema.is_valid(text), why


def test_one_suite_per_results_file_one_case_per_check(artifacts, tmp_path, write):
    files = [artifacts[n] for n in ("pass", "fail", "sweep", "bench")] + [artifacts["compare"]]
    xml = JUnitXml.fromfile(str(write(*files)))
    suites = list(xml)
    assert len(suites) == 5
    for suite, path in zip(suites, files[:4]):
        doc = read(path)
        golden = len(doc["golden"]["cases"]) if doc["golden"] else 0
        assert suite.tests == doc["counts"]["comparisons"] + golden
        assert len(list(suite)) == suite.tests
        golden_failed = sum(not c["match"] for c in doc["golden"]["cases"]) if doc["golden"] else 0
        assert suite.failures == doc["counts"]["comparisons_failed"] + golden_failed
        assert suite.errors == 0
    assert suites[-1].name == "compare" and suites[-1].tests == 1 and suites[-1].failures == 0
    assert xml.tests == sum(s.tests for s in suites)


def test_failure_messages_name_case_run_step_and_tokens(artifacts, tmp_path, write):
    doc = read(artifacts["fail"])
    suite = list(JUnitXml.fromfile(str(write(artifacts["fail"]))))[0]
    cases = {(c.classname, c.name): c for c in suite}
    checked = 0
    for case in doc["cases"]:
        for run in case["runs"]:
            testcase = cases[(f"{doc['suite']['name']}.{case['id']}", run["label"])]
            assert testcase.time == pytest.approx(run["duration_s"], abs=1e-3)
            if run["match"]:
                assert testcase.is_passed
                continue
            (failure,) = [r for r in testcase.result if isinstance(r, Failure)]
            div = run["first_divergence"]
            # run-2 (on a reloaded model) decodes every case through the engine at once: a batch of 2
            batch = run.get("batch")
            where = f" in a batch of {batch['sizes'][div['step']]} (row {batch['rows'][div['step']]})" if batch else ""
            assert failure.message.startswith(f"case '{case['id']}' {run['label']} differs from run-1{where} at step {div['step']}:")
            assert div["expected_sha256"][:16] in failure.message and div["actual_sha256"][:16] in failure.message
            assert f"token {div['expected_token']}" in failure.message
            assert div["expected_sha256"] in failure.text and div["actual_sha256"] in failure.text
            checked += 1
    assert checked == doc["counts"]["comparisons_failed"] > 0
    for golden in doc["golden"]["cases"]:
        testcase = cases[(f"{doc['suite']['name']}.{golden['id']}", "golden")]
        assert not golden["match"]
        (failure,) = testcase.result
        assert failure.type == "golden-divergence"
        assert f"case '{golden['id']}' differs from the golden file" in failure.message
        assert f"step {golden['first_divergence']['step']}" in failure.message


def test_a_crashed_worker_is_an_error_with_its_reason(artifacts, tmp_path, write):
    doc = read(artifacts["crash"])
    suite = list(JUnitXml.fromfile(str(write(artifacts["crash"]))))[0]
    crashed = [run for case in doc["cases"] for run in case["runs"] if run["error"]]
    assert crashed and suite.errors == len(crashed) and suite.failures == 0
    errors = [r for case in suite for r in case.result if isinstance(r, Error)]
    assert len(errors) == len(crashed)
    assert all("process-1 produced no record" in e.message and "signal" in e.message for e in errors)


def test_an_update_golden_run_is_a_skipped_check(artifacts, tmp_path, write):
    suite = list(JUnitXml.fromfile(str(write(artifacts["written"]))))[0]
    skipped = [r for case in suite for r in case.result if isinstance(r, Skipped)]
    assert len(skipped) == 1 and "golden file written" in skipped[0].message
    assert suite.skipped == 1


def test_a_co_batched_failure_names_its_batch_and_neighbours(cobatched, schema, tmp_path, write):
    doc = read(cobatched)
    out = write(cobatched)
    schema.validate(str(out))
    (suite,) = JUnitXml.fromfile(str(out))
    properties = {p.name: p.value for p in suite.properties()}
    assert properties["batch_rounds"] == " ".join(doc["settings"]["batch_rounds"]) == "batch-3 batch-8 join-a join-b"
    assert properties["batch_sizes"] == " ".join(f"{size}:{tokens}" for size, tokens in
                                                 sorted((int(k), v) for k, v in doc["batch_sizes"].items()))
    cases = {(c.classname, c.name): c for c in suite}
    checked = localised = 0
    for case in doc["cases"]:
        for run in case["runs"]:
            if run["match"]:
                continue
            (failure,) = cases[(f"{doc['suite']['name']}.{case['id']}", run["label"])].result
            batch, step = run["batch"], run["first_divergence"]["step"]
            size, row = batch["sizes"][step], batch["rows"][step]
            assert failure.message.startswith(f"case '{case['id']}' {run['label']} differs from run-1 "
                                              f"in a batch of {size} (row {row}) at step {step}: logits sha256 ")
            assert f"divergent step {step}: batch of {size}, row {row}\n" in failure.text
            assert f"batch sizes per step: {' '.join(map(str, batch['sizes']))}\n" in failure.text
            assert f"rows per step: {' '.join(map(str, batch['rows']))}\n" in failure.text
            assert (f"joined a running batch: {'yes' if batch['joined_running'] else 'no'}; "
                    f"joined by others while decoding: {'yes' if batch['joined_by_others'] else 'no'}") in failure.text
            shown = [line for line in failure.text.splitlines() if line.startswith("neighbour: ")]
            assert shown == [f"neighbour: {n['request']}, prompt {n['prompt_tokens']} tokens, {n['new_tokens']} new "
                             f"tokens, {n['sampling']}, steps {n['steps'][0]}..{n['steps'][1]}"
                             for n in batch["neighbours"]] and shown
            if where := run.get("first_divergent_activation"):   # the localised run names layer and op
                assert failure.message.endswith(f"; {where['what']}") and f"\n{where['what']}\n" in failure.text
                localised += 1
            checked += 1
    assert checked == doc["counts"]["comparisons_failed"] == suite.failures > 0
    assert localised == 1


def test_a_file_without_batch_fields_is_still_valid_junit(cobatched, schema, tmp_path, write):
    old = tmp_path / "old-results.json"
    old.write_text(json.dumps(without_batch_fields(read(cobatched))))
    out = write(old)
    schema.validate(str(out))
    (suite,) = JUnitXml.fromfile(str(out))
    assert {p.name for p in suite.properties()}.isdisjoint({"batch_rounds", "batch_sizes"})
    failures = [r for case in suite for r in case.result if isinstance(r, Failure)]
    assert len(failures) == read(cobatched)["counts"]["comparisons_failed"]
    for failure in failures:
        assert " differs from run-1 at step " in failure.message and "in a batch of" not in failure.text
        assert "batch sizes per step" not in failure.text and "neighbour:" not in failure.text
