"""Outputs that cannot be written: a file where a directory belongs, a read-only file system, a full
disk under the golden file. The tmpfs cases (`mount`) run in a private mount namespace (mounted.py);
`stage/` holds the files put on the tmpfs before the command runs."""
import os

from bad_case import Case, run_args, verify_args

TINY_DISK = {"size": "64k"}


def blocker(ws):
    return ws.write("blocker", "a regular file, not a directory\n")


def on_tmpfs(ws, *staged_golden):
    ws.path("mnt").mkdir()
    ws.path("stage").mkdir()
    for name in staged_golden:
        ws.golden(f"stage/{name}")
    return ws.path("mnt")


# Two cases of 8 tokens: a proof of about 9 KB, more than the one page left on the full tmpfs, so the
# write starts and fails half-way (ENOSPC after 4096 bytes).
LARGER_PROOF = ("--prompt", "Hi", "--prompt", "Name a color.", "--max-new-tokens", "8")


def golden_on_full_disk(ws):
    mnt = on_tmpfs(ws, "g.proof.json")
    return verify_args(ws.hf_model(), ws.path("out"), "--golden", mnt / "g.proof.json", "--update-golden",
                       *LARGER_PROOF)


def export_on_full_disk(ws):
    mnt = on_tmpfs(ws)
    return ["proof", "export", "--model", ws.hf_model(), *LARGER_PROOF, "--out", mnt / "p.proof.json",
            "--out-dir", ws.path("out")]


def no_permission(ws):
    locked = ws.path("locked")
    locked.mkdir()
    locked.chmod(0o500)
    return verify_args(ws.hf_model(), locked / "out")


def as_root():
    if os.geteuid() == 0:
        return "root may write to a mode-0500 directory (out-dir-read-only covers this as root)"
    return None


def out_dir_on_tmpfs(ws):
    return verify_args(ws.hf_model(), on_tmpfs(ws))


def out_dir_below_tmpfs(ws):
    return verify_args(ws.hf_model(), on_tmpfs(ws) / "out")


CASES = [
    Case("out-dir-is-file", "--out-dir names an existing regular file",
         lambda ws: verify_args(ws.hf_model(), blocker(ws)), 3,
         r"cannot create directory '.*/blocker': '.*/blocker' is not a directory"),
    Case("out-dir-under-file", "--out-dir below a regular file (blocker/out)",
         lambda ws: verify_args(ws.hf_model(), blocker(ws) / "out"), 3,
         r"cannot create directory '.*/blocker/out': '.*/blocker' is not a directory"),
    Case("results-is-directory", "--results names an existing directory",
         lambda ws: verify_args(ws.hf_model(), ws.path("out"), "--results", ws.mkdir("taken")),
         3, r"cannot write '.*/taken': it is a directory"),
    Case("dump-logits-unwritable", "run --dump-logits below a regular file",
         lambda ws: run_args(ws.hf_model(), "--dump-logits", blocker(ws) / "logits.npy"), 3,
         r"cannot create directory '.*/blocker': '.*/blocker' is not a directory"),
    Case("out-dir-no-permission", "--out-dir below a directory of mode 0500 (not as root)", no_permission, 3,
         r"cannot create directory '.*/locked/out': Permission denied", skip=as_root),
    Case("out-dir-read-only", "--out-dir on a read-only file system (tmpfs remounted ro)", out_dir_below_tmpfs, 3,
         r"cannot create directory '.*/mnt/out': Read-only file system", mount={**TINY_DISK, "readonly": True}),
    Case("out-dir-disk-full", "--out-dir: the root of a full 64 KiB tmpfs", out_dir_on_tmpfs, 3,
         r"cannot write '.*/mnt/proof\.json': write: No space left on device", mount={**TINY_DISK, "fill_leave": 0}),
    Case("out-dir-created-disk-full", "--out-dir a new directory on a full 64 KiB tmpfs (made, then removed)",
         out_dir_below_tmpfs, 3, r"cannot write '.*/mnt/out/proof\.json': write: No space left on device",
         mount={**TINY_DISK, "fill_leave": 0}),
    Case("golden-disk-full", "--update-golden over an existing golden on a 64 KiB tmpfs with one page left",
         golden_on_full_disk, 3, r"cannot write '.*/mnt/g\.proof\.json': write: No space left on device",
         outputs=("out/proof.json",), mount={**TINY_DISK, "fill_leave": 4096}),
    Case("export-disk-full", "proof export --out on a 64 KiB tmpfs with one page left", export_on_full_disk, 3,
         r"cannot write '.*/mnt/p\.proof\.json': write: No space left on device",
         outputs=("out/proof.json",), mount={**TINY_DISK, "fill_leave": 4096}),
]
