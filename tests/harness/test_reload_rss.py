"""100 fresh loads of the model in one process keep the resident set flat:
`lockstep reload` prints VmRSS after every load, and the RSS after the
100th reload may exceed the RSS after the 1st by less than 16 MiB (the
model's weights are ~1 GiB, so one leaked copy of even 2% of them, or a
leaked tokenizer, fails). Measured here: harness/MEASURED.md."""
import re

from test_checks_cli import check

BOUND_MIB = 16.0
LOAD = re.compile(r"verify: (?:re-)?loading model(?: for run-(\d+))? .*\(RSS ([0-9.]+) MiB")


def test_hundred_reloads_keep_rss_flat(lockstep_bin, default_model, tmp_path):
    result = check(lockstep_bin, default_model, tmp_path, "reload", "--reloads", "100", "--processes", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    rss = {}
    for m in LOAD.finditer(result.stderr):
        rss[int(m.group(1)) if m.group(1) else 1] = float(m.group(2))
    # run-1 is the first load; run-2 .. run-101 are reloads 1 .. 100.
    assert sorted(rss) == list(range(1, 102)), sorted(rss)[:5]
    growth = rss[101] - rss[2]
    print(f"RSS after reload 1: {rss[2]:.1f} MiB, after reload 100: {rss[101]:.1f} MiB, growth {growth:.1f} MiB")
    assert growth < BOUND_MIB, f"RSS grew {growth:.1f} MiB over 100 reloads (bound {BOUND_MIB} MiB)"
    assert max(rss[r] for r in range(2, 102)) - rss[2] < BOUND_MIB
