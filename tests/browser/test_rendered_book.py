"""The rendered book as a reader sees it: every page of _build/html in headless Chromium.

Run after the book is built (`make browser`, part of `make test`). A local HTTP server
serves _build/html on 127.0.0.1; Debian's Chromium, driven by Playwright, opens every
page with the network cut off from everything else, and the test fails on:

- JavaScript console errors (except the theme's known first-visit message);
- a request that failed, or that left the local server (the book must work offline);
- an image that did not load or has zero size;
- math that MathJax did not render;
- a notebook page without its Colab launch button;
- an internal link to a page or anchor that does not exist;
- a code block or output of the book's pages that scrolls sideways, or a code column
  narrower than the notebooks' line length (book/ruff.toml);
- any violation of the WCAG 2.1 A and AA rules that axe-core checks (installed from npm
  into _build/node by `make browser`).

The landing page must also link every chapter of _toc.yml, show its figure (chapter 4's
stored output, tools/landing_figure.py) and link the PDF.

A screenshot of each page goes to _build/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import shutil
import threading
import tomllib
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CNNBOOK_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
COLAB = "https://colab.research.google.com/github/"
AXE = ROOT / "_build" / "node" / "node_modules" / "axe-core" / "axe.min.js"
# The WCAG 2.1 levels A and AA, as axe-core tags its rules.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# The book's own pages, whose code and outputs must not scroll sideways. The API page's
# docstring examples and the source pages (_modules/) are the package's code, at its
# line length (100): they scroll.
NOT_SCROLLING = re.compile(r"book/(?!api\.html)[^/]+\.html")

# pydata-sphinx-theme logs this on a fresh browser profile (no stored theme choice).
KNOWN_CONSOLE_ERRORS = {"Got invalid theme mode: . Resetting to auto."}

# Flags for headless Chromium as root on a machine without a network: no sandbox, and
# none of the background connections that would be refused.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pages():
    """Every HTML page of the built book, relative to the site root."""
    if not (SITE / "index.html").is_file():
        pytest.fail("the book is not built: run `make book-strict` first")
    skip = {"genindex.html", "py-modindex.html"}
    return sorted(
        str(path.relative_to(SITE))
        for path in SITE.rglob("*.html")
        if path.name not in skip and "_static" not in path.parts and "_sources" not in path.parts
    )


PAGES = pages() if (SITE / "index.html").is_file() else ["index.html"]


@pytest.fixture(scope="module")
def server():
    """Serve _build/html on a free localhost port for the duration of the module."""
    handler = functools.partial(QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page whose requests may only go to the local server."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []

    def route(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            page.problems.append(f"request outside the book: {route.request.url}")
            route.abort()

    def on_console(message):
        if message.type == "error" and message.text not in KNOWN_CONSOLE_ERRORS:
            page.problems.append(f"console error: {message.text}")

    def on_response(response):
        if response.status >= 400:
            page.problems.append(f"HTTP {response.status}: {response.url}")

    def on_request_failed(request):
        if request.url.startswith(server):  # outside ones were aborted by route() above
            page.problems.append(f"failed request: {request.url}")

    page.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda error: page.problems.append(f"JavaScript error: {error}"))
    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    yield page
    context.close()


def wait_for_math(page):
    """Wait until MathJax has typeset the page (if it has math); return the math count."""
    count = page.locator(".math").count()
    if count:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000
        )
        page.evaluate("() => MathJax.startup.promise")
    return count


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_completely(page, server, name):
    page.goto(f"{server}/{name}", wait_until="networkidle")
    math = wait_for_math(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / (name.replace("/", "__") + ".png"), full_page=True)

    problems = list(page.problems)
    broken_images = page.evaluate(
        """() => [...document.images]
            .filter(image => !image.complete || image.naturalWidth === 0
                             || image.getBoundingClientRect().width === 0)
            .filter(image => image.offsetParent !== null)
            .map(image => image.src)"""
    )
    problems += [f"image not shown: {src}" for src in broken_images]
    if math:
        rendered = page.locator("mjx-container").count()
        errors = page.locator("mjx-merror").count()
        if rendered < math or errors:
            problems.append(f"math: {math} formulas, {rendered} rendered, {errors} errors")
    if (SITE / "_sources" / name).with_suffix(".ipynb").is_file():
        if page.locator(f'a[href^="{COLAB}"]').count() == 0:
            problems.append("notebook page without a Colab launch button")
    problems += broken_internal_links(page, server, name)
    if NOT_SCROLLING.fullmatch(name):
        problems += code_that_scrolls(page)
    assert not problems, "\n".join(problems)


def line_length():
    """The longest code line that the linter allows in the notebooks (book/ruff.toml)."""
    return tomllib.loads((ROOT / "book" / "ruff.toml").read_text())["line-length"]


# For every code block and output of the page (hidden cells opened): whether it
# scrolls sideways, and how many characters of its font its column holds.
MEASURE_CODE = """() => {
    document.querySelectorAll("article details").forEach(details => { details.open = true; });
    return [...document.querySelectorAll("article pre")].map(pre => {
        const style = getComputedStyle(pre);
        const probe = document.createElement("span");
        probe.textContent = "x".repeat(100);
        probe.style.font = style.font;
        probe.style.whiteSpace = "pre";
        probe.style.position = "absolute";
        pre.appendChild(probe);
        const character = probe.getBoundingClientRect().width / 100;
        probe.remove();
        const inside = pre.clientWidth - parseFloat(style.paddingLeft)
                       - parseFloat(style.paddingRight);
        const lines = pre.textContent.split("\\n");
        return {
            kind: pre.closest(".cell_output") ? "output"
                  : pre.closest(".cell_input") ? "code cell" : "code block",
            columns: Math.floor(inside / character),
            scrolls: pre.scrollWidth > pre.clientWidth,
            longest: lines.reduce((a, b) => (b.length > a.length ? b : a), ""),
        };
    });
}"""


def code_that_scrolls(page):
    """Code blocks and outputs that scroll sideways, and code columns that are too narrow.

    Code cells must fit as they are (the linter keeps their lines to line_length()),
    outputs wrap (book/_static/cnnbook.css), so neither may scroll; and every code cell's
    column must hold line_length() characters, or the linter's limit would not be what
    the reader sees.
    """
    problems = []
    for block in page.evaluate(MEASURE_CODE):
        if block["scrolls"]:
            longest = block["longest"]
            problems.append(
                f"{block['kind']} scrolls sideways: its column holds {block['columns']} "
                f"characters, its longest line has {len(longest)}: {longest!r}"
            )
        elif block["kind"] == "code cell" and block["columns"] < line_length():
            problems.append(
                f"a code cell's column holds {block['columns']} characters, "
                f"fewer than the notebooks' line length {line_length()}"
            )
    return problems


# True once no CSS transition (the theme fades colors when they change) is running.
COLORS_SETTLED = """() => document.getAnimations()
    .every(animation => !(animation instanceof CSSTransition)
                        || animation.playState !== "running")"""
RUN_AXE = """tags => axe.run(document, {runOnly: {type: "tag", values: tags}})
    .then(result => result.violations.map(rule => ({
        id: rule.id, impact: rule.impact, help: rule.help,
        nodes: rule.nodes.map(node => node.target.join(" ")),
    })))"""


@pytest.mark.parametrize("name", PAGES)
def test_page_is_accessible(page, server, name):
    """axe-core finds no WCAG 2.1 A or AA violation on the page, as the reader sees it,
    in the theme's light colors and then in its dark ones (the theme follows the
    system's preference until the reader picks one)."""
    if not AXE.is_file():
        pytest.fail(f"axe-core not found at {AXE}: run `make browser`, which installs it")
    page.goto(f"{server}/{name}", wait_until="networkidle")
    wait_for_math(page)
    page.add_script_tag(path=str(AXE))
    problems = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_function(f"() => document.documentElement.dataset.theme === '{scheme}'")
        page.wait_for_function(COLORS_SETTLED)  # not measured halfway through a fade
        problems += [
            f"{scheme}: {rule['id']} ({rule['impact']}): {rule['help']}, on "
            f"{len(rule['nodes'])} element(s): {', '.join(rule['nodes'][:3])}"
            for rule in page.evaluate(RUN_AXE, AXE_TAGS)
        ]
    assert not problems, "\n".join(problems + list(page.problems))


def broken_internal_links(page, server, name):
    """Internal links whose target page or anchor does not exist in the built site."""
    problems = []
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
    for href in set(hrefs):
        if not href.startswith(server):
            continue
        target, anchor = urldefrag(href)
        path = SITE / unquote(urlparse(target).path).lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        if path == SITE / "book" / "cnnbook.pdf" and not path.is_file():
            continue  # `make pdf` puts it there; test_pdf.py checks the link then
        if not path.is_file():
            problems.append(f"broken link to {href}")
        elif anchor and path.suffix == ".html" and not has_anchor(path, unquote(anchor)):
            problems.append(f"broken anchor {href}")
    return problems


@functools.cache
def anchors_of(path):
    return set(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))


def has_anchor(path, anchor):
    return anchor in anchors_of(path)


def test_search_finds_a_chapter(page, server):
    page.goto(f"{server}/search.html?q=convolution", wait_until="networkidle")
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=20_000)
    assert results.count() > 0
    assert not page.problems, "\n".join(page.problems)


def landing_figure():
    """tools/landing_figure.py, which copies the landing page's figure from chapter 4."""
    spec = importlib.util.spec_from_file_location(
        "landing_figure", ROOT / "tools" / "landing_figure.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_landing_page_shows_the_book(page, server):
    """The landing page links every chapter, shows chapter 4's figure and links the PDF."""
    page.goto(f"{server}/book/index.html", wait_until="networkidle")
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    linked = set(
        page.evaluate(
            "() => [...document.querySelectorAll('article a[href]')]"
            ".map(a => a.getAttribute('href'))"
        )
    )
    missing = [
        entry["file"]
        for entry in toc["chapters"]
        if Path(entry["file"]).name + ".html" not in linked
    ]
    assert not missing, f"pages of _toc.yml the landing page does not link: {missing}"

    figure = landing_figure()
    for target, stored in zip(figure.TARGETS, figure.stored_images(), strict=True):
        assert target.read_bytes() == stored, (
            f"{target.relative_to(ROOT)} is not chapter 4's stored figure: "
            "run `python tools/landing_figure.py`"
        )
        image = page.locator(f'article img[src$="{target.name}"]')
        assert image.count() == 1 and image.is_visible(), f"{target.name} not shown"
        assert len(image.get_attribute("alt") or "") > 40, f"{target.name}: no alt text"

    pdf_link = page.locator('article a[href="cnnbook.pdf"]')
    assert pdf_link.count() == 1 and pdf_link.is_visible(), "no visible link to the PDF"
    assert not page.problems, "\n".join(page.problems)


def test_every_chapter_is_checked():
    chapters = {path.stem for path in (ROOT / "book").glob("*.ipynb")}
    rendered = {Path(name).stem for name in PAGES if name.startswith("book/")}
    assert chapters <= rendered, f"chapters missing from the built book: {chapters - rendered}"
