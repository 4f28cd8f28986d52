"""The built documentation as a reader sees it: every page rendered in headless
Chromium.

``docs/check_built.py`` reads the HTML; this test looks at what the browser
draws, which the HTML alone does not tell: a theme's style sheet can turn valid
markup into an error box (Furo writes a red ``ERROR: Adding a table of contents
...`` over ``.. contents::``), and a figure scaled down to the content column can
shrink its text below what anyone reads.  For every page of the site it fails on

- a visible element whose ``::before`` or ``::after`` shows a text starting with
  ``ERROR``;
- a visible docutils system message, ``problematic`` reference or error
  admonition (a ``<noscript>`` box is not rendered in a browser with scripts);
- an SVG figure (``<img src="....svg">``) with a text smaller than
  ``MIN_TEXT_PX`` as drawn at the width of a desktop window: each text's font
  size in the figure's units times the figure's scale on the page.

All pages load at once, each in a frame of a desktop window's size, in one
browser run.  A local HTTP server sends the site and adds a small script to
each page; the script reports what it finds back to the server.

Uses the HTML of ``DANDI_COMPUTE_DOCS_HTML`` when set (``tox -e docs`` sets it
to the build it just made), otherwise builds the site into a temporary
directory.  Skipped without Sphinx (the ``docs`` extra) or without Chromium,
unless ``DANDI_COMPUTE_BROWSER`` names the browser to use (``.ci/run`` does):
then a missing one fails.  ``tox -e docs`` runs it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: the smallest text a figure may show, in CSS pixels as drawn
MIN_TEXT_PX = 11.0
#: a desktop window: Furo shows its content column at full width
WINDOW = (1400, 1000)
#: the browsers tried, in order (Debian's package installs ``chromium``)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOW_TO_RUN = (
    "no {what}; to run it: `apt-get install chromium`, then `tox -e docs` "
    "(or pytest with the docs extra installed)"
)

#: added to every page: once the page has loaded, find what a reader would see
#: as an error, measure the SVG figures' texts, and send both to the server
PAGE_SCRIPT = r"""
<script>
window.addEventListener("load", function () {
  function visible(el) {
    var r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden";
  }
  function describe(el) {
    return el.tagName.toLowerCase() + "." + Array.from(el.classList).join(".");
  }
  var boxes = [];
  document.querySelectorAll("body *").forEach(function (el) {
    ["::before", "::after"].forEach(function (pseudo) {
      var c = getComputedStyle(el, pseudo).content;
      if (/^["']?ERROR/.test(c) && visible(el)) {
        boxes.push(describe(el) + pseudo + ": " + c.slice(0, 120));
      }
    });
  });
  document.querySelectorAll(
    ".system-message, .problematic, .admonition.error"
  ).forEach(function (el) {
    if (visible(el)) {
      boxes.push(describe(el) + ": " + el.textContent.trim().slice(0, 120));
    }
  });
  var figures = [];
  document.querySelectorAll("img").forEach(function (img) {
    if (!/\.svg$/i.test(img.getAttribute("src") || "")) return;
    figures.push(measure(img));
  });
  function measure(img) {
    // the image's own document is out of reach: draw the same SVG inline, at
    // the size of the image, in a box that inherits nothing from the page
    var xhr = new XMLHttpRequest();
    xhr.open("GET", img.src, false);
    xhr.send();
    var svg = new DOMParser().parseFromString(xhr.responseText, "image/svg+xml")
      .documentElement;
    var box = img.getBoundingClientRect();
    var holder = document.createElement("div");
    holder.style.cssText = "all: initial; display: block";
    holder.appendChild(document.importNode(svg, true));
    document.body.appendChild(holder);
    var inline = holder.firstChild;
    inline.setAttribute("width", box.width);
    inline.setAttribute("height", box.height);
    var smallest = null, texts = 0;
    inline.querySelectorAll("text, tspan").forEach(function (t) {
      var m = t.getScreenCTM();
      if (!t.textContent.trim() || !m) return;  // empty, or not drawn at all
      var px = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
      texts += 1;
      if (smallest === null || px < smallest.px) {
        smallest = {px: px, text: t.textContent.trim().slice(0, 60)};
      }
    });
    holder.remove();
    return {src: img.getAttribute("src"), width: box.width, texts: texts,
            smallest: smallest};
  }
  var report = new XMLHttpRequest();
  report.open("POST", "/__report__", false);
  report.send(JSON.stringify({page: location.pathname, boxes: boxes,
                              figures: figures}));
});
</script>
"""


def find_browser() -> str | None:
    """The first Chromium found on ``PATH``."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built HTML: ``DANDI_COMPUTE_DOCS_HTML``, or a fresh build."""
    given = os.environ.get("DANDI_COMPUTE_DOCS_HTML")
    if given:
        return Path(given)
    pytest.importorskip("sphinx", reason=HOW_TO_RUN.format(what="Sphinx"))
    pytest.importorskip("furo", reason=HOW_TO_RUN.format(what="Furo"))
    out = tmp_path_factory.mktemp("docs") / "html"
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(DOCS), str(out)],
        check=True,
        env={**os.environ, "DANDI_NO_ET": "1"},
    )
    return out


class _Site(http.server.SimpleHTTPRequestHandler):
    """Sends the site, each page with :data:`PAGE_SCRIPT`; keeps the reports."""

    reports: list[dict]
    pages: list[str]

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path == "/__all__.html":
            return self._send(_frames(self.pages))
        path = Path(self.translate_path(self.path))
        if path.suffix != ".html" or not path.is_file():
            return super().do_GET()
        text = path.read_text(encoding="utf-8")
        head, _, tail = text.rpartition("</body>")
        self._send(head + PAGE_SCRIPT + "</body>" + tail)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        self.reports.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def _send(self, html: str) -> None:
        body = html.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _frames(pages: list[str]) -> str:
    """One page holding every page of the site, each in a window-sized frame."""
    width, height = WINDOW
    frames = "".join(
        f'<iframe src="/{quote(p)}" width="{width}" height="{height}"></iframe>'
        for p in pages
    )
    return f"<!DOCTYPE html><html><body>{frames}</body></html>"


def render(site: Path, browser: str, profile: Path) -> dict[str, dict | None]:
    """Load every page of ``site`` in ``browser``: ``{page: its report}``, None
    for a page that sent none (its script did not run to the end)."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    reports: list[dict] = []
    handler = type("Handler", (_Site,), {"reports": reports, "pages": pages})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                # nothing but the local server: the site must need no network
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--dump-dom",
                f"http://127.0.0.1:{server.server_address[1]}/__all__.html",
            ],
            check=True,
            capture_output=True,  # a failing browser's own words, in the error
            timeout=300,
        )
    finally:
        server.shutdown()
        server.server_close()
    got = {r["page"].lstrip("/"): r for r in reports}
    return {page: got.get(page) for page in pages}


def problems(reports: dict[str, dict | None]) -> list[str]:
    """What a reader would see as wrong, one line each."""
    found = []
    for page, report in reports.items():
        if report is None:
            found.append(f"{page}: not rendered (its check sent no report)")
            continue
        found += [f"{page}: an error box: {box}" for box in report["boxes"]]
        for figure in report["figures"]:
            smallest = figure["smallest"]
            if smallest is None:
                found.append(f"{page}: {figure['src']}: no text found to measure")
            elif smallest["px"] < MIN_TEXT_PX:
                found.append(
                    f"{page}: {figure['src']} drawn {figure['width']:.0f} px wide: "
                    f"{smallest['text']!r} is {smallest['px']:.1f} px "
                    f"(at least {MIN_TEXT_PX:g})"
                )
    return found


@pytest.fixture(scope="module")
def browser() -> str:
    required = os.environ.get("DANDI_COMPUTE_BROWSER")
    if required:
        found = shutil.which(required)
        if found is None:
            pytest.fail(f"DANDI_COMPUTE_BROWSER={required}: no such browser")
        return found
    found = find_browser()
    if found is None:
        pytest.skip(HOW_TO_RUN.format(what="Chromium"))
    return found


def test_pages_as_rendered(browser: str, built_site: Path, tmp_path: Path) -> None:
    """No page shows an error box; every figure's text is readable."""
    reports = render(built_site, browser, tmp_path / "profile")
    assert "user-guide/deletion.html" in reports
    deletion = reports["user-guide/deletion.html"]
    assert deletion is not None and any(
        f["src"].endswith("deletion-flow.svg") for f in deletion["figures"]
    ), "the deletion flow figure is not on its page"
    assert problems(reports) == []


SMALL_FIGURE = """<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="100"
  viewBox="0 0 2000 100"><text x="10" y="50" font-size="14">small</text>
  <text x="10" y="90" font-size="40">large</text></svg>"""
#: drawn at its own size, but one text is shrunk by a transform, sized by CSS
SHRUNK_FIGURE = """<svg xmlns="http://www.w3.org/2000/svg" width="600" height="100"
  viewBox="0 0 600 100"><style>.note { font-size: 20px }</style>
  <text x="10" y="40" font-size="14">plain</text>
  <g transform="scale(0.5)"><text class="note" x="20" y="160">shrunk</text></g></svg>"""

BROKEN_PAGE = """<!DOCTYPE html><html><head>
<link rel="stylesheet" href="_static/styles/furo.css"></head><body>
<div class="article-container"><article>
<nav class="contents local" id="contents"><ul><li>a local table</li></ul></nav>
<div class="system-message"><p>Unknown directive type</p></div>
<noscript><div class="admonition error"><p>enable JavaScript</p></div></noscript>
<img src="small.svg" alt="a wide figure">
<img src="shrunk.svg" alt="a figure with a shrunk text">
<div class="admonition warning"><p>a warning is no error</p></div>
<div class="system-message" style="display: none">hidden</div>
</article></div></body></html>"""


def test_the_checks_can_fail(browser: str, built_site: Path, tmp_path: Path) -> None:
    """A page with Furo's table-of-contents error, a system message, a figure
    whose text is drawn at 14 * (its width / 2000) px and one whose text is
    20 px in CSS in a group scaled by half: each is reported; the box inside
    ``<noscript>``, a hidden one and a warning are not; a clean page has
    nothing."""
    site = tmp_path / "site"
    shutil.copytree(built_site / "_static", site / "_static")
    (site / "small.svg").write_text(SMALL_FIGURE, encoding="utf-8")
    (site / "shrunk.svg").write_text(SHRUNK_FIGURE, encoding="utf-8")
    (site / "broken.html").write_text(BROKEN_PAGE, encoding="utf-8")
    (site / "clean.html").write_text(
        BROKEN_PAGE.split("<article>")[0] + "<p>fine</p></body></html>",
        encoding="utf-8",
    )
    reports = render(site, browser, tmp_path / "profile")
    found = problems(reports)
    broken = [line for line in found if line.startswith("broken.html: ")]
    assert len(broken) == 4, found
    assert "ERROR: Adding a table of contents" in broken[0]
    assert "system-message" in broken[1] and "Unknown directive" in broken[1]
    assert "'small' is " in broken[2]
    assert "'shrunk' is 10.0 px" in broken[3]
    assert not [line for line in found if not line.startswith("broken.html: ")]
