"""The whole book as one PDF, for reading offline: `make pdf`.

Builds the single-page HTML version of the book (``jupyter-book build . --builder
singlehtml``), opens it in headless Chromium, waits for MathJax to typeset the math,
and prints it to ``_build/pdf/cnnbook.pdf`` (A4). When the HTML book has been built
(``make book``), the PDF is copied beside its landing page, which links to it
(book/index.md, "On paper or offline").

Nothing is cut off on paper: the print rules of ``book/_static/cnnbook.css`` wrap every
code block and output at the page's edge (tests/browser/test_pdf.py finds the book's
longest output lines whole in the PDF's text).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINGLE_DIR = ROOT / "_build" / "singlehtml"
PDF = ROOT / "_build" / "pdf" / "cnnbook.pdf"
SITE = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("CNNBOOK_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
WAIT_FOR_MATHJAX = "async () => { await window.MathJax?.startup?.promise; }"


def build_single_page():
    """Build the single page; return it as a file at the build's root.

    Jupyter Book writes the page to ``book/index.html`` (the root page's name) but
    links its styles, scripts and images from the build's root, where the top-level
    ``index.html`` only redirects. A copy of the page at the root finds them all.
    """
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(ROOT), "--builder", "singlehtml"]
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    page = SINGLE_DIR / "cnnbook.html"
    shutil.copy(SINGLE_DIR / "book" / "index.html", page)
    return page


def print_pdf(html, pdf=PDF):
    from playwright.sync_api import sync_playwright

    pdf.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        page.goto(html.as_uri(), wait_until="load")
        # MathJax 3 typesets after the page loads; its promise settles when it is done.
        page.evaluate(
            "async () => { if (window.MathJax?.startup?.promise) await MathJax.startup.promise; }"
        )
        page.emulate_media(media="print")
        page.pdf(
            path=str(pdf),
            format="A4",
            print_background=True,
            margin={"top": "18mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
        )
        browser.close()
    return pdf


def copy_beside_landing_page(pdf=PDF, site=SITE):
    """Copy the PDF beside the HTML build's landing page, whose link leads to it."""
    index = site / "book" / "index.html"  # the top-level index.html only redirects here
    if not index.is_file():
        return False
    shutil.copy(pdf, index.parent / "cnnbook.pdf")
    if 'href="cnnbook.pdf"' not in index.read_text(encoding="utf-8"):
        print("warning: the landing page (book/index.md) does not link cnnbook.pdf")
    return True


def main():
    pdf = print_pdf(build_single_page())
    copied = copy_beside_landing_page(pdf)
    size = pdf.stat().st_size / 1e6
    where = ", and copied beside _build/html/book/index.html" if copied else ""
    print(f"wrote {pdf.relative_to(ROOT)} ({size:.1f} MB){where}")


if __name__ == "__main__":
    main()
