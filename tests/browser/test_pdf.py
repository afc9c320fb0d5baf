"""The book as one PDF (`make pdf`): every chapter in it, its math typeset, its long lines
wrapped rather than cut off, and a link to it from the landing page of the HTML build."""

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "_build" / "pdf" / "cnnbook.pdf"


def chapter_titles():
    """The first heading of every page in _toc.yml (notebooks and Markdown pages)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    titles = []
    for entry in [{"file": toc["root"]}, *toc["chapters"]]:
        path = ROOT / entry["file"]
        if path.with_suffix(".ipynb").is_file():
            cells = json.loads(path.with_suffix(".ipynb").read_text())["cells"]
            text = "".join(cells[0]["source"])
        else:
            text = path.with_suffix(".md").read_text()
        heading = next(line for line in text.splitlines() if line.startswith("# "))
        titles.append(heading[2:].strip())
    return titles


@pytest.fixture(scope="module")
def pdf_text():
    pypdf = pytest.importorskip("pypdf")
    if not PDF.is_file():
        pytest.fail("no PDF: run `make pdf` first")
    reader = pypdf.PdfReader(PDF)
    images = sum(len(page.images) for page in reader.pages)
    return len(reader.pages), images, " ".join(page.extract_text() for page in reader.pages)


def normalized(text):
    return " ".join(text.replace("\u2019", "'").split())


def test_pdf_has_every_chapter(pdf_text):
    pages, images, text = pdf_text
    assert pages >= 80, f"only {pages} pages"
    assert images >= 50, f"only {images} figures"  # the chapters' plots were found
    text = normalized(text)
    missing = [title for title in chapter_titles() if normalized(title) not in text]
    assert not missing, f"chapter titles not found in the PDF: {missing}"


def test_pdf_math_is_typeset(pdf_text):
    _, _, text = pdf_text
    assert "\\frac" not in text and "$$" not in text  # MathJax replaced the TeX source


def long_output_lines(longer_than=90):
    """The longest printed line of each notebook, where it is longer than `longer_than`.

    Only lines the PDF shows: stream and plain-text outputs of cells that are not
    hidden or removed, in printable ASCII (PDF text extraction keeps those as they are).
    Wider than the PDF's code column (about 80 characters), each is cut off unless the
    print styles wrap it.
    """
    lines = []
    for notebook in sorted((ROOT / "book").glob("*.ipynb")):
        candidates = []
        for cell in json.loads(notebook.read_text())["cells"]:
            tags = cell.get("metadata", {}).get("tags", [])
            if any(tag.startswith(("hide-", "remove-")) for tag in tags):
                continue
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "text" in output:
                    text = "".join(output["text"])
                elif data.keys() == {"text/plain"}:
                    text = "".join(data["text/plain"])
                else:
                    continue
                candidates += [
                    line
                    for line in text.splitlines()
                    if len(line) > longer_than and line.isascii() and line.isprintable()
                ]
        if candidates:
            lines.append((notebook.stem, max(candidates, key=len)))
    return lines


def test_pdf_wraps_long_lines(pdf_text):
    """Lines longer than the page is wide are in the PDF whole, wrapped, not cut off.

    Chromium leaves out of the PDF what a scrolling block hides (checked: without the
    print styles none of these lines is found whole).
    """
    _, _, text = pdf_text
    squeezed = "".join(text.split())  # a wrapped line breaks where the page ends
    lines = long_output_lines()
    assert lines, "no output line longer than the page is wide: nothing to check"
    cut = [(name, line) for name, line in lines if "".join(line.split()) not in squeezed]
    assert not cut, f"lines cut off in the PDF: {cut}"


def test_landing_page_links_the_pdf():
    index = ROOT / "_build" / "html" / "book" / "index.html"
    if not index.is_file():
        pytest.skip("the HTML book is not built")
    assert 'href="cnnbook.pdf"' in index.read_text()
    assert (index.parent / "cnnbook.pdf").is_file()
