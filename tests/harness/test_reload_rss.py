"""100 fresh loads of the model in one process keep the resident set flat:
`lockstep reload` prints VmRSS after every load. VmRSS moves by up to
~20 MiB from one load to the next as the allocator returns or keeps freed
blocks, so the bound is on medians: the median over reloads 91-100 may
exceed the median over reloads 11-20 by less than 32 MiB, i.e. less than
0.36 MiB kept per reload (a leaked copy of the smallest weight matrix,
576 x 576 fp32 = 1.3 MiB, every fourth reload fails; the weights are ~1 GiB).
The bound was 16 MiB until two clean CI runs of one commit (2026-12-06,
a21627a) measured 7.7 and 16.1 MiB: the one-arena level still shifts by a
step now and then. Measured: fuzz/FUZZ.md.

Why one malloc arena, and from reload 11: every run goes through the batching
engine, whose scheduler and digest threads are new threads per run; glibc
gives new threads their own malloc arenas (up to 8 per core), whose freed but
fragmented memory drifts the resident set by up to ~15 MiB over 100 reloads
(medians per ten reloads, 2 cores, 2026-12-06: 928, 962, 963, 963, 964, 973,
978, 973, 978, 970 MiB) — the allocator, not a leak: with MALLOC_ARENA_MAX=1
the same run steps up once over the first ten reloads and is then flat to the
MiB (1307, 1546, 1543, 1543, 1543, 1543, 1543, 1543, 1543, 1543). So the test
runs with one arena, where a leak cannot hide in arena noise, and starts its
baseline after that first step."""
import re
import statistics

from test_checks_cli import check

BOUND_MIB = 32.0
LOAD = re.compile(r"(?:verify|reload): (?:re-)?loading model(?: for run-(\d+))? .*\(RSS ([0-9.]+) MiB")


def test_hundred_reloads_keep_rss_flat(lockstep_bin, default_model, tmp_path):
    result = check(lockstep_bin, default_model, tmp_path, "reload", "--reloads", "100", "--processes", "0",
                   env={"MALLOC_ARENA_MAX": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    rss = {}
    for m in LOAD.finditer(result.stderr):
        rss[int(m.group(1)) if m.group(1) else 1] = float(m.group(2))
    # run-1 is the first load; run-2 .. run-101 are reloads 1 .. 100.
    assert sorted(rss) == list(range(1, 102)), sorted(rss)[:5]
    first = statistics.median(rss[r] for r in range(12, 22))     # reloads 11-20
    last = statistics.median(rss[r] for r in range(92, 102))     # reloads 91-100
    print(f"median RSS over reloads 11-20: {first:.1f} MiB, 91-100: {last:.1f} MiB, growth {last - first:.1f} MiB")
    readings = " ".join(f"{rss[r]:.0f}" for r in range(1, 102))
    assert last - first < BOUND_MIB, (f"RSS grew {last - first:.1f} MiB over 100 reloads (bound {BOUND_MIB} MiB); "
                                      f"VmRSS after each load, MiB: {readings}")
