"""Runs one lockstep command with a small tmpfs mounted, inside a private mount namespace.

    unshare -m  python mounted.py SPEC.json     (root)
    unshare -rm python mounted.py SPEC.json     (a user namespace, where root is not available)

SPEC: {"mount": DIR, "size": "64k", "stage": DIR, "fill_leave": BYTES or null, "readonly": bool,
       "argv": [...], "cwd": DIR, "env": {...}}. The tmpfs is mounted on DIR, the files of "stage"
are copied onto it, then (fill_leave) a filler file takes all its space but BYTES, or (readonly) it
is remounted read-only. Prints one JSON object: the command's returncode, stdout and stderr, and
snapshots (disk_check.snapshot) of the tmpfs before and after it. Exit 77 if the mount fails (the caller
tries the next way, then skips).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from disk_check import snapshot  # noqa: E402


def fill(mount, leave):
    """A filler file that takes every byte of the tmpfs, then gives `leave` of them back."""
    filler = pathlib.Path(mount) / "filler.bin"
    with open(filler, "wb", buffering=0) as f:
        try:
            while f.write(b"\xa5" * 4096):
                pass
        except OSError:
            pass
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))


def main():
    spec = json.loads(pathlib.Path(sys.argv[1]).read_text())
    mount = spec["mount"]
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={spec['size']}", "tmpfs", mount],
                      capture_output=True).returncode != 0:
        sys.exit(77)
    for item in pathlib.Path(spec["stage"]).iterdir():
        shutil.copy2(item, pathlib.Path(mount) / item.name)
    if spec.get("fill_leave") is not None:
        fill(mount, spec["fill_leave"])
    if spec.get("readonly"):
        subprocess.run(["mount", "-o", "remount,ro", mount], check=True)
    before = snapshot(mount)
    statvfs = os.statvfs(mount)
    result = subprocess.run(spec["argv"], capture_output=True, text=True, cwd=spec["cwd"], env=spec["env"],
                            timeout=300)
    print(json.dumps({"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr,
                      "before": before, "after": snapshot(mount), "free_before": statvfs.f_bavail * statvfs.f_frsize}))


if __name__ == "__main__":
    main()
