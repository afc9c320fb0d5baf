"""Maintenance of the book's notebooks: the Colab install cell, and re-execution.

    python tools/booktools.py colab-cells        # rewrite every first cell from _config.yml
    python tools/booktools.py execute [NB ...]   # re-run notebooks in full mode, in place
    python tools/booktools.py check-gpu          # say which device TensorFlow sees; fail on CPU
    python tools/booktools.py version            # print cnnbook.__version__ (the release tag's)

The Makefile wraps the first three (`make colab-cells`, `make notebooks`, and
`make test-gpu`, which runs `check-gpu` first); the Pages workflow runs `version` to
check that the release tag is the package's version.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def repository_url(config_path=ROOT / "_config.yml"):
    """The canonical repository URL, as `_config.yml` gives it (one place to change it)."""
    config = yaml.safe_load(Path(config_path).read_text())
    return config["repository"]["url"].rstrip("/")


def package_version(init_path=ROOT / "cnnbook" / "__init__.py"):
    """``cnnbook.__version__``, read from its one place without importing the package."""
    match = re.search(r'^__version__ = "([^"]+)"', Path(init_path).read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"no __version__ in {init_path}")
    return match.group(1)


def colab_cell_source(url=None, version=None):
    """Source of the first code cell of every notebook: install cnnbook in Colab only.

    The cell installs the release tag ``v<version>`` (``cnnbook.__version__``), the
    package the stored outputs were made with, not the repository's moving head; the
    Pages workflow publishes the book only from that tag.
    """
    url = url or repository_url()
    version = version or package_version()
    return (
        "# In Google Colab, install cnnbook (the book's companion package) at the\n"
        "# version this page was made with; elsewhere, do nothing: `make book` has\n"
        "# installed it already.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    %pip install --quiet \\\n"
        f'        "cnnbook @ git+{url}@v{version}"'
    )


def notebooks():
    """Every chapter notebook in book/, in name order."""
    return sorted(BOOK.glob("*.ipynb"))


def first_code_cell(notebook):
    return next(cell for cell in notebook.cells if cell.cell_type == "code")


def code_sources(path):
    """The source of each code cell of the notebook at ``path``, in order."""
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def code_without_magics(source):
    """A cell's code without its IPython lines (``%...``, ``!...``), for ``ast``."""
    lines = source.splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def update_colab_cells():
    source = colab_cell_source()
    for path in notebooks():
        notebook = nbformat.read(path, as_version=4)
        cell = first_code_cell(notebook)
        if cell.source != source:
            cell.source = source
            nbformat.write(notebook, path)
            print(f"updated {path.relative_to(ROOT)}")


def execute(paths, timeout=None):
    """Execute notebooks in full mode (CNNBOOK_SMOKE unset) and store their outputs."""
    from nbclient import NotebookClient

    os.environ.pop("CNNBOOK_SMOKE", None)
    for path in paths:
        path = Path(path).resolve()
        notebook = nbformat.read(path, as_version=4)
        started = time.perf_counter()
        NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": path.parent}},
        ).execute()
        nbformat.write(notebook, path)
        print(f"executed {path.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s")


def check_gpu(allow_cpu=False):
    """Print the device the Keras backend will use; return 1 (fail) on a CPU unless allowed."""
    from cnnbook.runtime import describe_device, visible_gpus

    gpus = visible_gpus()
    print(describe_device(gpus))
    if gpus or allow_cpu:
        return 0
    print(
        "The Keras backend sees no GPU: `make test-gpu` is meant for a machine with an NVIDIA GPU "
        "(check `nvidia-smi`). To run every notebook in full mode on the CPU anyway "
        "(as long as all the stored full runs; README.md gives the time): "
        "make test-gpu ALLOW_CPU=1",
        file=sys.stderr,
    )
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("colab-cells", help="rewrite the Colab install cell of every notebook")
    run = commands.add_parser("execute", help="re-execute notebooks in full mode, in place")
    run.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in book/")
    commands.add_parser("version", help="print cnnbook.__version__, which the Colab cells pin")
    gpu = commands.add_parser("check-gpu", help="print the device; fail if there is no GPU")
    gpu.add_argument("--allow-cpu", action="store_true", help="succeed on a CPU too")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(package_version())
    elif args.command == "colab-cells":
        update_colab_cells()
    elif args.command == "check-gpu":
        return check_gpu(args.allow_cpu)
    else:
        execute(args.notebooks or notebooks())
    return 0


if __name__ == "__main__":
    sys.exit(main())
