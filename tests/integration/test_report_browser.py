"""The demo's report.html in a real browser: headless Chromium loads it from disk, and every plot must load.

A copy of the report gets a small script that, on the `load` event, writes each <img>'s natural size into the
DOM; `--dump-dom` prints the DOM after that event. A screenshot checks that the page renders at all. A control
page with a broken image shows that the probe does fail when an image does not load.

Needs Debian's `chromium` (`make browser` installs it). Skipped only where no Chromium is found and `CI` is unset.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from evalaction.artifacts import RunResult
from tests.conftest import DemoRun

PROBE_ID = "evalaction-image-probe"
PROBE = f"""<script>
window.addEventListener("load", function () {{
  var out = Array.prototype.map.call(document.images, function (img) {{
    return {{alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight}};
  }});
  var pre = document.createElement("pre");
  pre.id = "{PROBE_ID}";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}});
</script>
"""
# A 1x1 PNG, and bytes that are not an image at all.
GOOD_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("Chromium not found but CI is set: the set-up must install Debian's `chromium` (make browser)")
    pytest.skip("Chromium not found (install Debian's `chromium`, or run `make browser`)")


def _run_chromium(args: list[str], page: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _image_states(html: str, tmp: Path) -> list[dict[str, object]]:
    """Load `html` (plus the probe) in Chromium and return each image's {alt, complete, width, height}."""
    page = tmp / "probe.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = _run_chromium(["--dump-dom"], page, tmp / "profile-dom")
    match = re.search(rf'<pre id="{PROBE_ID}">(.*?)</pre>', done.stdout, re.S)
    assert match, f"Chromium printed no probe result (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


@pytest.fixture(scope="module")
def demo_report(demo_run: DemoRun) -> Path:
    """The output folder of the session's one CLI run of the embedded demo."""
    assert demo_run.exit_code in (0, 1), demo_run.output
    return demo_run.out


def test_every_plot_loads_in_chromium(demo_report: Path, tmp_path: Path) -> None:
    run = RunResult.read(demo_report / "results.json")
    assert {"confusion", "per_class_f1", "roc", "pr", "reliability"} <= set(run.metrics.plots)
    images = _image_states((demo_report / "report.html").read_text(encoding="utf-8"), tmp_path)
    # the errors section embeds its galleries and attribution figures too: every one must load
    errors_pngs = [c.gallery for c in run.errors.categories if c.gallery]
    errors_pngs += [s.figure for s in run.errors.attributions.samples] if run.errors.attributions else []
    assert errors_pngs
    assert len(images) == len(run.metrics.plots) + len(errors_pngs)
    for img in images:
        assert img["complete"] is True, img
        assert isinstance(img["width"], int) and img["width"] > 100, img
        assert isinstance(img["height"], int) and img["height"] > 100, img


def test_screenshot_of_the_report(demo_report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    done = _run_chromium(
        ["--window-size=1200,4000", "--hide-scrollbars", f"--screenshot={shot}"],
        demo_report / "report.html",
        tmp_path / "profile-shot",
    )
    assert shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1200, 4000)
        lo, hi = img.convert("L").getextrema()
        assert hi - lo > 100  # text and plots, not a blank page
        # The plots are below the tables: the lower half of the page must not be empty either.
        lower = img.crop((0, 2000, 1200, 4000)).convert("L").getextrema()
        assert lower[1] - lower[0] > 100


def test_the_probe_fails_on_a_broken_image(tmp_path: Path) -> None:
    html = (
        "<!doctype html><html><body>"
        f'<img alt="good" src="data:image/png;base64,{GOOD_PNG}">'
        '<img alt="broken" src="data:image/png;base64,bm90IGEgcG5n">'
        "</body></html>"
    )
    states = {s["alt"]: s for s in _image_states(html, tmp_path)}
    assert states["good"]["width"] == 1
    assert states["broken"]["width"] == 0


def test_report_html_is_self_contained(demo_report: Path) -> None:
    html = (demo_report / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"<(link|script)[^>]*\s(href|src)=", html)
