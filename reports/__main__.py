"""`python -m reports` (run by `lockstep report`): HTML and a Markdown summary from results.json /
compare.json files. The JUnit XML beside them is `lockstep report`'s own: the harness has one JUnit
writer (harness/results/junit.cpp), the one verify and sweep use.

Exit codes, as the lockstep CLI's: 0 written, 2 bad input (a missing or malformed file, a bad
flag), 3 environment (Jinja2 missing, an output not writable).
"""
from __future__ import annotations

import argparse
import os
import sys

OK, BAD_INPUT, ENVIRONMENT = 0, 2, 3


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="lockstep report",
        description="Render lockstep results (results.json from verify/sweep/bench/stress/reload/suite, "
                    "compare.json from compare) as a self-contained HTML report and a Markdown summary "
                    "(lockstep report adds the JUnit XML).",
        epilog="Exit codes: 0 reports written, 2 bad input, 3 environment problem (Python or Jinja2 missing, "
               "output not writable). A failing verdict is not an error here: the reports show it.")
    parser.add_argument("inputs", nargs="*", metavar="FILE", help="results.json or compare.json files")
    parser.add_argument("--results", action="append", default=[], metavar="FILE", help="a results.json (repeatable)")
    parser.add_argument("--compare", action="append", default=[], metavar="FILE", help="a compare.json (repeatable)")
    parser.add_argument("--out-dir", default="lockstep-out", help="where the reports go (default: lockstep-out)")
    parser.add_argument("--html", help="HTML path (default: OUT_DIR/report.html)")
    parser.add_argument("--markdown", help="Markdown summary path (default: OUT_DIR/summary.md)")
    parser.add_argument("--title", default="lockstep determinism report", help="report title")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:   # argparse: --help is 0, a usage error 2
        return OK if e.code in (0, None) else BAD_INPUT
    try:
        import jinja2  # noqa: F401  (the HTML renderer needs it; say so before reading anything)
    except ImportError:
        print(f"lockstep report: error: Jinja2 is not installed in {sys.executable}; run ci/setup.sh "
              "(or pip install -r ci/requirements.txt)", file=sys.stderr)
        return ENVIRONMENT
    from reports import html, markdown
    from reports.load import BadInput, load

    try:
        inputs = load(args.inputs + args.results, args.compare)
    except BadInput as e:
        print(f"lockstep report: error: {e}", file=sys.stderr)
        return BAD_INPUT
    paths = {"html": args.html or os.path.join(args.out_dir, "report.html"),
             "markdown": args.markdown or os.path.join(args.out_dir, "summary.md")}
    try:
        for path in paths.values():
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        _write(paths["html"], html.render_html(inputs, args.title))
        _write(paths["markdown"], markdown.summary_markdown(inputs, args.title))
    except OSError as e:
        print(f"lockstep report: error: cannot write the reports: {e}", file=sys.stderr)
        return ENVIRONMENT
    print(f"report: verdict {inputs.verdict}")
    for name, path in paths.items():
        print(f"report: {name}: {path}")
    return OK


def _write(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
