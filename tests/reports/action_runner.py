"""Runs action.yml's composite steps the way a GitHub runner does, on this machine: each step's
`run` in bash with its `env` (the ${{ inputs.* }}, ${{ steps.*.outputs.* }} and ${{ github/runner }}
expressions the action uses, evaluated), GITHUB_OUTPUT a fresh file per step, GITHUB_STEP_SUMMARY,
RUNNER_TEMP and GITHUB_WORKSPACE set; stops at the first failing step; returns the action's outputs.
A step's `if:` is evaluated (comparisons of inputs with '==' joined by '&&', the forms the action uses).
The only `uses:` step allowed is actions/cache, simulated by a store of keys (`cache_hits`): a key in it
restores (the paths are this checkout's, already in place) and answers cache-hit=true; others miss."""
import os
import re
import subprocess
from dataclasses import dataclass

import yaml

from report_testlib import ROOT

EXPRESSION = re.compile(r"\$\{\{\s*([a-z]+)\.([A-Za-z0-9_.-]+)\s*\}\}")


@dataclass
class ActionRun:
    returncode: int
    outputs: dict
    summary: str
    log: str


def read_outputs(path) -> dict:
    values, lines = {}, path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<")[0]:   # name<<DELIMITER ... DELIMITER
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            values[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        name, value = line.split("=", 1)
        values[name] = value
        i += 1
    return values


CONDITION = re.compile(r"^inputs\.([a-z-]+) == '([^']*)'$")


def run_action(inputs: dict, workspace, temp, env=None, cache_hits=frozenset()) -> ActionRun:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    given = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    unknown = set(inputs) - set(given)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    given.update({k: str(v) for k, v in inputs.items()})
    steps, summary, log = {}, temp / "step-summary.md", []
    summary.touch()
    context = {"runner": {"temp": str(temp)}, "github": {"action_path": str(ROOT), "workspace": str(workspace)}}

    def evaluate(text):
        def one(match):
            scope, path = match.groups()
            if scope == "inputs":
                return given[path]
            if scope == "steps":
                step, _, name = path.split(".", 2)
                return steps.get(step, {}).get(name, "")
            return context[scope][path]
        return EXPRESSION.sub(one, str(text))

    def holds(condition):
        results = []
        for part in str(condition).split("&&"):
            match = CONDITION.match(part.strip())
            assert match, f"condition the simulated runner cannot evaluate: {condition}"
            results.append(given[match.group(1)] == match.group(2))
        return all(results)

    returncode = 0
    for index, step in enumerate(action["runs"]["steps"]):
        if "if" in step and not holds(step["if"]):
            steps[step.get("id", str(index))] = {}
            continue
        if "uses" in step:
            assert step["uses"].startswith("actions/cache@"), f"step the simulated runner cannot run: {step['uses']}"
            key = evaluate(step["with"]["key"])
            assert key and all(p.startswith(str(ROOT)) for p in evaluate(step["with"]["path"]).split())
            steps[step["id"]] = {"cache-hit": "true" if key in cache_hits else "false", "key": key}
            log.append(f"cache {step['id']}: key {key}: {'hit' if key in cache_hits else 'miss'}")
            continue
        assert step["shell"] == "bash"
        output_file = temp / f"github-output-{index}"
        output_file.touch()
        step_env = {**os.environ, **(env or {}), "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_OUTPUT": str(output_file),
                    "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(temp), "GITHUB_WORKSPACE": str(workspace),
                    "GITHUB_ACTIONS": "true", "CI": "true"}
        step_env.update({k: evaluate(v) for k, v in (step.get("env") or {}).items()})
        result = subprocess.run(["bash", "-e", "-c", evaluate(step["run"])], cwd=workspace, env=step_env,
                                capture_output=True, text=True, timeout=900)
        log.append(result.stdout + result.stderr)
        steps[step.get("id", str(index))] = read_outputs(output_file)
        if result.returncode != 0:
            returncode = result.returncode
            break
    outputs = {name: evaluate(spec["value"]) for name, spec in action["outputs"].items()}
    return ActionRun(returncode, outputs, summary.read_text(), "\n".join(log))
