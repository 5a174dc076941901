"""One row of the bad-input catalogue, and the workspace a row builds its inputs in."""
import dataclasses
import json
import pathlib
import shutil
from typing import Callable, Dict, List, Optional


@dataclasses.dataclass
class Case:
    id: str
    input: str                            # what is wrong, in words (BAD_INPUT.md)
    setup: Callable[["Workspace"], List]  # writes the inputs, returns the command's arguments
    code: int                             # the exact exit code
    message: str                          # regex that stderr must match
    # Outputs a failing command may legitimately leave (exit 1 still reports): relative paths that
    # must then exist and be complete JSON/XML. Everything else in the workspace must be untouched.
    outputs: tuple = ()
    # Extra environment for the command.
    env: Optional[Dict[str, str]] = None
    # A reason to skip, computed at collection time (None: runs).
    skip: Optional[Callable[[], Optional[str]]] = None
    # A regex stderr must NOT match, e.g. r"loading model": the command must fail before the model loads.
    forbidden: Optional[str] = None
    # A tmpfs on the workspace's mnt/ for the command (mounted.py): {"size", "readonly", "fill_leave"}.
    mount: Optional[dict] = None


class Workspace:
    """A fresh folder per case; tiny models and proofs are copied in from the session's originals."""

    def __init__(self, root, originals):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.originals = originals

    def path(self, name):
        return self.root / name

    def write(self, name, data):
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, (bytes, bytearray)):
            path.write_bytes(bytes(data))
        else:
            path.write_text(data if isinstance(data, str) else json.dumps(data, indent=1))
        return path

    def mkdir(self, name):
        path = self.root / name
        path.mkdir(parents=True)
        return path

    def hf_model(self, name="model", which="hf"):
        """A copy of a tiny HF Llama folder (which: 'hf' or 'hf-other', another seed)."""
        target = self.root / name
        shutil.copytree(self.originals[which], target)
        return target

    def gguf(self, data, name="model.gguf"):
        return self.write(name, data)

    def golden(self, name="golden.proof.json"):
        return self.write(name, self.originals["golden"].read_bytes())

    def golden_doc(self):
        return json.loads(self.originals["golden"].read_text())


def with_options(args, defaults, extra):
    """`args`, then `defaults` ({flag: value}) unless `extra` gives that flag itself, then `extra`."""
    given = {a for a in extra if isinstance(a, str) and a.startswith("--")}
    for flag, value in defaults.items():
        if flag not in given:
            args += [flag, value]
    return args + list(extra)


def run_args(model, *extra):
    """`lockstep run` of one greedy token: the shortest command that loads the model and generates."""
    return with_options(["run", "--model", model], {"--prompt": "Hi", "--max-new-tokens": "1"}, extra)


def verify_args(model, out_dir, *extra):
    return with_options(["verify", "--model", model],
                        {"--prompt": "Hi", "--max-new-tokens": "3", "--runs": "1", "--processes": "0",
                         "--out-dir": out_dir}, extra)
