"""Reading the harness's JSON files into the documents the renderers share.

Validation is deliberately shallow: the harness writes these files and its own tests pin the
schema (harness/RESULTS.md); here we check what the renderers rely on, so that a wrong file
(a proof, a suite, a truncated write) fails with a message naming the file and field, not with a
KeyError deep inside a template.
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field

RESULTS_SCHEMA = "lockstep.results/0"
COMPARE_SCHEMA = "lockstep.compare/0"


class BadInput(Exception):
    """A file the user named is missing, unreadable or not what it claims to be (exit code 2)."""


@dataclass
class Inputs:
    results: list[dict] = field(default_factory=list)   # lockstep.results/0 documents, in argument order
    compares: list[dict] = field(default_factory=list)  # lockstep.compare/0 documents

    @property
    def verdict(self) -> str:
        """"pass" only if every results file and every compare passed."""
        docs = self.results + self.compares
        return "pass" if docs and all(d["verdict"] == "pass" for d in docs) else "fail"


def read_json(path: str | pathlib.Path) -> dict:
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot read: {e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadInput(f"{path}: expected a JSON object")
    doc["_path"] = str(path)
    return doc


def _require(doc: dict, where: str, key: str, kind: type | tuple[type, ...]):
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BadInput(f"{where}: field '{key}' missing or not {name}")
    return value


def _as_tuple(kind):
    return kind if isinstance(kind, tuple) else (kind,)


def check_results(doc: dict) -> dict:
    where = doc.get("_path", "results.json")
    if doc.get("schema") != RESULTS_SCHEMA:
        raise BadInput(f"{where}: schema is {doc.get('schema')!r}, expected {RESULTS_SCHEMA!r} "
                       "(a results.json written by lockstep verify/sweep/bench/...)")
    if _require(doc, where, "verdict", str) not in ("pass", "fail"):
        raise BadInput(f"{where}: verdict must be 'pass' or 'fail'")
    _require(doc, where, "suite", dict)
    _require(doc, where, "environment", dict)
    _require(doc, where, "model", dict)
    counts = _require(doc, where, "counts", dict)
    for key in ("cases", "cases_passed", "cases_failed", "comparisons", "comparisons_failed"):
        _require(counts, f"{where}: counts", key, int)
    for i, case in enumerate(_require(doc, where, "cases", list)):
        at = f"{where}: cases[{i}]"
        _require(case, at, "id", str)
        _require(case, at, "passed", bool)
        for j, run in enumerate(_require(case, at, "runs", list)):
            _require(run, f"{at}.runs[{j}]", "label", str)
            _require(run, f"{at}.runs[{j}]", "match", bool)
            if run.get("batch") is not None:
                _check_batch(_require(run, f"{at}.runs[{j}]", "batch", dict), f"{at}.runs[{j}].batch")
    _check_batch_sizes(doc, where)
    golden = doc.get("golden")
    if golden is not None:
        _require(doc, where, "golden", dict)
        for i, case in enumerate(_require(golden, f"{where}: golden", "cases", list)):
            _require(case, f"{where}: golden.cases[{i}]", "id", str)
            _require(case, f"{where}: golden.cases[{i}]", "match", bool)
    return doc


def _check_batch(batch: dict, at: str):
    """A run's optional `batch` (harness/RESULTS.md): what the renderers index and iterate."""
    for key in ("sizes", "rows"):
        if key in batch and not all(isinstance(v, int) and not isinstance(v, bool)
                                    for v in _require(batch, at, key, list)):
            raise BadInput(f"{at}: field '{key}' must hold integers")
    if "neighbours" in batch:
        for k, neighbour in enumerate(_require(batch, at, "neighbours", list)):
            if not isinstance(neighbour, dict):
                raise BadInput(f"{at}.neighbours[{k}]: expected an object")


def _check_batch_sizes(doc: dict, where: str):
    """The optional top-level `batch_sizes` ({"8": 222, ...}) and `settings.batch_rounds` (a list)."""
    if doc.get("batch_sizes") is not None:
        for key, tokens in _require(doc, where, "batch_sizes", dict).items():
            if not key.isdigit() or not isinstance(tokens, int) or isinstance(tokens, bool):
                raise BadInput(f"{where}: batch_sizes entry {key!r}: {tokens!r} is not batch size -> token count")
    settings = doc.get("settings")
    if isinstance(settings, dict) and settings.get("batch_rounds") is not None:
        _require(settings, f"{where}: settings", "batch_rounds", list)


def check_compare(doc: dict) -> dict:
    where = doc.get("_path", "compare.json")
    if doc.get("schema") != COMPARE_SCHEMA:
        raise BadInput(f"{where}: schema is {doc.get('schema')!r}, expected {COMPARE_SCHEMA!r} "
                       "(a compare.json written by lockstep compare)")
    _require(doc, where, "verdict", str)
    for name, mode in _require(doc, where, "modes", dict).items():
        _require(mode, f"{where}: modes.{name}", "unique_outputs", int)
        _require(mode, f"{where}: modes.{name}", "histogram", list)
    return doc


def load(results_paths, compare_paths=()) -> Inputs:
    """Reads every file; a compare.json given as --results is accepted and sorted by its schema."""
    inputs = Inputs()
    for path in list(results_paths) + list(compare_paths):
        doc = read_json(path)
        if doc.get("schema") == COMPARE_SCHEMA:
            inputs.compares.append(check_compare(doc))
        else:
            inputs.results.append(check_results(doc))
    if not inputs.results and not inputs.compares:
        raise BadInput("no input: give at least one results.json (or compare.json)")
    return inputs
