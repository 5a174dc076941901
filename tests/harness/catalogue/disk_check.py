"""What the catalogue checks on disk and in a failed command's output.

`snapshot(root)` records every path under root with its type, size, mtime (ns), mode and SHA-256:
a command that fails must leave it exactly as it was (no input changed, no output half-written,
no temporary file left behind, no empty output directory created).
"""
import hashlib
import os
import pathlib
import re
import subprocess

# Text that only a crash, an abort or a sanitizer prints.
CRASH_MARKERS = re.compile(r"terminate called|Aborted|Segmentation fault|core dumped|AddressSanitizer|"
                           r"UndefinedBehaviorSanitizer|ThreadSanitizer|LeakSanitizer|runtime error:|"
                           r"Traceback \(most recent call last\)|internal error|c10::Error|Exception raised from")
TEMP_NAME = re.compile(r"\.(tmp|probe)\.\d+$|^\.lockstep-probe\.\d+$|\.tmp$|~$")


def snapshot(root):
    root = pathlib.Path(root)
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = pathlib.Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                entries[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                entries[rel] = ("dir", st.st_mode)
            else:
                entries[rel] = ("file", st.st_size, st.st_mtime_ns, st.st_mode, sha256(path))
    return entries


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_change(before, after):
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added}, removed {removed}, changed {changed}"


def temp_files(root):
    return [str(p) for p in pathlib.Path(root).rglob("*") if TEMP_NAME.search(p.name)]


def run(binary, args, cwd, env=None, timeout=300):
    full_env = {k: v for k, v in os.environ.items() if k not in ("LOCKSTEP_TEST_FAULT", "LOCKSTEP_MODEL")}
    full_env.update(env or {})
    return subprocess.run([os.path.abspath(binary), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=timeout)


def assert_clean_failure(result, code, message):
    """The exit code, the message on stderr, and no sign of a crash."""
    where = f"exit {result.returncode}\nstderr:\n{result.stderr[-3000:]}\nstdout:\n{result.stdout[-1000:]}"
    assert result.returncode >= 0, f"killed by signal {-result.returncode}: {where}"
    assert result.returncode == code, f"expected exit {code}: {where}"
    assert re.search(message, result.stderr), f"expected /{message}/ on stderr: {where}"
    assert not CRASH_MARKERS.search(result.stderr + result.stdout), f"crash or internal error: {where}"
    if code in (2, 3):
        assert re.search(r"^lockstep: error: |^(Error|The following|\S+ is required|Could not convert)",
                         result.stderr, re.M), f"no error line: {where}"
