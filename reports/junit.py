"""JUnit XML from results.json: one <testsuite> per suite run, one <testcase> per check.

A check is one compared run of a case (classname "<suite>.<case id>", name the run label:
run-2, process-1, batch-8, worker-17), one case against the golden file (name "golden"), or, for a
compare.json, the invariant mode giving exactly one output. A failing check carries <failure>
whose message names the case, the run, the batch it decoded in at the divergent step when it shared
engine steps with others ("... in a batch of 8 (row 3) at step 0: ...") and the first divergent step
and token; its body adds every step's batch size and row, the joins and the neighbours. A run that
produced no record (a crashed worker) is an <error>. The suite's properties carry the batch rounds
and the batch-size histogram when results.json has them. Valid against reports/schema/junit.xsd.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from reports import batching, divergence
from reports.load import Inputs

# Characters XML 1.0 forbids (C0 controls but tab/newline/return, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _seconds(value) -> str:
    return f"{max(float(value or 0.0), 0.0):.3f}"


def _element(parent, tag, text=None, **attributes) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attributes.items() if v is not None})
    if text is not None:
        node.text = xml_safe(text)
    return node


class _Suite:
    """Builds one <testsuite> and keeps its counts."""

    def __init__(self, root, name, timestamp=None, time=None):
        self.node = _element(root, "testsuite", name=name)
        self.properties = _element(self.node, "properties")
        self.tests = self.failures = self.errors = self.skipped = 0
        self.timestamp, self.time = timestamp, time

    def property(self, name, value):
        if value not in (None, ""):
            _element(self.properties, "property", name=name, value=value)

    def case(self, classname, name, time=0.0) -> ET.Element:
        self.tests += 1
        return _element(self.node, "testcase", classname=classname, name=name, time=_seconds(time))

    def fail(self, testcase, message, body, kind="divergence"):
        self.failures += 1
        _element(testcase, "failure", body, message=message, type=kind)

    def error(self, testcase, message, body, kind="worker-error"):
        self.errors += 1
        _element(testcase, "error", body, message=message, type=kind)

    def skip(self, testcase, message):
        self.skipped += 1
        _element(testcase, "skipped", message=message)

    def close(self):
        for key in ("tests", "failures", "errors", "skipped"):
            self.node.set(key, str(getattr(self, key)))
        self.node.set("time", _seconds(self.time))
        if self.timestamp:
            self.node.set("timestamp", self.timestamp)
        if not len(self.properties):
            self.node.remove(self.properties)


def _unique_name(name: str, taken: set) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} #{n}", n + 1
    taken.add(candidate)
    return candidate


def _results_suite(root, doc, taken):
    env = doc["environment"]
    name = doc["suite"].get("name") or "lockstep"
    if env.get("mode") and env.get("mode") != "batch_invariant":
        name = f"{name} (mode {env['mode']})"
    suite = _Suite(root, _unique_name(name, taken), doc.get("started_at"), doc.get("duration_s"))
    for key, value in (("suite", doc["suite"].get("name")), ("suite_path", doc["suite"].get("path")),
                       ("model", doc["model"].get("name")), ("model_sha256", doc["model"].get("file_sha256")),
                       ("mode", env.get("mode")), ("lockstep_version", env.get("lockstep_version")),
                       ("libtorch_version", env.get("libtorch_version")), ("cpu_model", env.get("cpu_model")),
                       ("command", " ".join(doc.get("command", []))),
                       ("batch_rounds", " ".join(batching.rounds(doc))),
                       ("batch_sizes", " ".join(f"{size}:{tokens}" for size, tokens in batching.histogram(doc)))):
        suite.property(key, value)
    prefix = doc["suite"].get("name") or "lockstep"
    for case in doc["cases"]:
        reference = (case.get("reference") or {}).get("label", "run-1")
        for run in case["runs"]:
            testcase = suite.case(f"{prefix}.{case['id']}", run["label"], run.get("duration_s"))
            if run["match"]:
                continue
            message = divergence.run_message(case, run, reference)
            body = "\n".join([message, f"run kind: {run.get('kind')}", *divergence.detail_lines(run.get("first_divergence")),
                              *batching.lines(run), f"prompt: {case.get('prompt', '')}"])
            if run.get("error"):
                suite.error(testcase, message, body)
            else:
                suite.fail(testcase, message, body)
    golden = doc.get("golden")
    if golden:
        if golden.get("written"):
            testcase = suite.case(f"{prefix}.golden", "update-golden")
            suite.skip(testcase, f"golden file written: {golden.get('path')} (nothing compared)")
        for case in golden.get("cases", []):
            testcase = suite.case(f"{prefix}.{case['id']}", "golden")
            if not case["match"]:
                message = divergence.golden_message(case, golden.get("path", ""))
                body = "\n".join([message, f"level: {golden.get('level')}",
                                  *divergence.detail_lines(case.get("first_divergence"))])
                suite.fail(testcase, message, body, "golden-divergence")
    suite.close()
    return suite


def _compare_suite(root, doc, taken):
    suite = _Suite(root, _unique_name("compare", taken))
    modes = doc["modes"]
    for name, mode in modes.items():
        suite.property(f"{name}_unique_outputs", mode["unique_outputs"])
    settings = doc.get("settings", {})
    suite.property("runs", settings.get("runs"))
    suite.property("max_batch", settings.get("max_batch"))
    invariant = modes.get("batch_invariant")
    if invariant is not None:
        testcase = suite.case("compare.target", "batch_invariant")
        if invariant["unique_outputs"] != 1:
            message = (f"compare: mode batch_invariant gave {invariant['unique_outputs']} unique outputs of one "
                       f"request over {settings.get('runs')} co-batched runs (expected exactly 1)")
            body = "\n".join([message] + [f"{h['logits_sha256']}: {h['runs']} runs" for h in invariant["histogram"]])
            suite.fail(testcase, message, body)
    suite.close()
    return suite


def junit_tree(inputs: Inputs) -> ET.ElementTree:
    root = ET.Element("testsuites", {"name": "lockstep"})
    taken: set = set()
    suites = [_results_suite(root, doc, taken) for doc in inputs.results]
    suites += [_compare_suite(root, doc, taken) for doc in inputs.compares]
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(getattr(s, key) for s in suites)))
    root.set("time", _seconds(sum(float(s.time or 0.0) for s in suites)))
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def junit_xml(inputs: Inputs) -> str:
    return ET.tostring(junit_tree(inputs).getroot(), encoding="unicode", xml_declaration=False)


def write_junit(inputs: Inputs, path) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(junit_xml(inputs))
        out.write("\n")
