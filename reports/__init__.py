"""lockstep reports: a self-contained HTML report and a Markdown job summary, both from the harness's
`results.json` (`lockstep.results/0`) and `compare.json` (`lockstep.compare/0`).

Entry point: `python -m reports` (what `lockstep report` runs; the command writes the JUnit XML itself,
with the harness's one JUnit writer, harness/results/junit.cpp).
"""
