"""The HTML report in a real browser: headless Chromium screenshots it (the PNG must show a page,
not a blank) and dumps the DOM it built (every section there). LOCKSTEP_UPDATE_SCREENSHOT=1 copies
the screenshot to reports/screenshot.png for the README."""
import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from report_testlib import ROOT
from reports.html import render_html
from reports.load import load
from test_html import SECTIONS, Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (ci/setup.sh installs it)")


def chromium(*args, tmp_path):
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(artifacts, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    inputs = load([artifacts[n] for n in ("fail", "sweep-off", "sweep", "bench")], [artifacts["compare"]])
    path.write_text(render_html(inputs), encoding="utf-8")
    return path


def test_screenshot_shows_a_rendered_page(report, tmp_path):
    shot = tmp_path / "report.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1200,1800", report.as_uri(), tmp_path=tmp_path)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert shot.stat().st_size > 30_000
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1800)
    pixels = np.asarray(image.resize((120, 180))).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50                  # text, tables and charts, not a flat page
    assert (pixels != 255).any(axis=1).mean() > 0.05
    # The FAIL badge's red (#cf222e) is drawn near the top left.
    badge = np.asarray(image.crop((0, 0, 400, 140))).reshape(-1, 3).astype(int)
    assert ((abs(badge[:, 0] - 0xCF) < 40) & (badge[:, 1] < 90) & (badge[:, 2] < 90)).any()
    if os.environ.get("LOCKSTEP_UPDATE_SCREENSHOT"):
        image.crop((0, 0, 1200, 1800)).quantize(colors=64).save(ROOT / "reports" / "screenshot.png", optimize=True)


def test_the_browser_builds_every_section(report, tmp_path):
    result = chromium("--dump-dom", report.as_uri(), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    page = Page(result.stdout)
    assert all(section in page.ids for section in SECTIONS)
    assert page.ids["verdict"]["data-verdict"] == "fail"
    assert "svg" in page.tags and page.classes.count("cell") > 0 and page.classes.count("bar") > 0
