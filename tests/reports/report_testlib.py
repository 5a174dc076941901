"""Helpers shared by the report tests (a module of its own: two conftest.py files share a name)."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:   # the reports package lives at the repo root
    sys.path.insert(0, str(ROOT))

PROMPTS = ["What is 2+2?", "Name a color."]


def run_lockstep(binary, *args, env=None, timeout=600, check_rc=None):
    full_env = {k: v for k, v in os.environ.items() if k != "LOCKSTEP_TEST_FAULT"}
    full_env.update(env or {})
    result = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, env=full_env,
                            timeout=timeout)
    if check_rc is not None:
        assert result.returncode == check_rc, (args, result.returncode, result.stderr[-3000:])
    return result


def prompt_args(tokens=4):
    args = ["--max-new-tokens", str(tokens)]
    for prompt in PROMPTS:
        args += ["--prompt", prompt]
    return args


def without_batch_fields(doc):
    """A results.json as written before batch plans: no run `batch`, no `batch_sizes`, no
    `settings.batch_rounds`."""
    doc.pop("batch_sizes", None)
    (doc.get("settings") or {}).pop("batch_rounds", None)
    for case in doc["cases"]:
        for run in case["runs"]:
            run.pop("batch", None)
    return doc
