"""lockstep reports: JUnit XML, a self-contained HTML report and a Markdown job summary, all from
the harness's `results.json` (`lockstep.results/0`) and `compare.json` (`lockstep.compare/0`).

Entry point: `python -m reports` (what `lockstep report` runs).
"""
