"""Run the notebooks where readers run them: on Colab's stack, and on JAX or PyTorch.

    python tools/test_envs.py colab          # Colab's versions (ci/colab-stack.txt)
    python tools/test_envs.py backend jax    # Keras on JAX, TensorFlow not installed
    python tools/test_envs.py backend torch  # Keras on PyTorch (CPU), TensorFlow not installed

Each builds (or reuses) a virtual environment of its own beside `.venv` (`.venv-colab`,
`.venv-jax`, `.venv-torch`), then runs every notebook in smoke mode under nbval, as
`make notebooks-smoke` does in `.venv`. The Makefile wraps them (`make test-colab`,
`make test-backends`).

For Colab, the environment first gets exactly the versions of ci/colab-stack.txt (and the
test tools, which Colab does not need); then cnnbook is installed the way a notebook's
Colab cell installs it, from this checkout instead of GitHub, and the run fails if that
install changed any package that was there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLAB_STACK = ROOT / "ci" / "colab-stack.txt"
#: Run the notebooks; not part of what a reader's environment needs.
TEST_TOOLS = ["pytest>=8.0", "pytest-xdist>=3.5", "nbval>=0.11", "ipykernel>=6.17"]
#: PyTorch's CPU build, which pip takes from this machine's disk (see README).
TORCH = "torch==2.13.0"
PIP = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
#: pip caches the wheel it builds from a local folder under the folder's address, so a
#: second run from the same checkout would install the first run's code: build afresh.
FRESH = ["--no-cache-dir"]


def find_python(preferred=("3.12", "3.11")):
    """The first interpreter of the preferred versions this machine has, and its version.

    Looks on PATH (``python3.12``) and among pyenv's installed versions.
    """
    for version in preferred:
        candidates = [shutil.which(f"python{version}")]
        pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        candidates += sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
        for candidate in filter(None, candidates):
            check = subprocess.run(
                [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
            )
            if check.returncode == 0 and check.stdout.strip() == version:
                return str(candidate), version
    raise SystemExit(f"no Python {' or '.join(preferred)} found on this machine")


def run(command, **kwargs):
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True, **kwargs)


def freeze(python):
    """{package name: version} of what is installed in the environment of ``python``."""
    listing = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pairs = (line.split("==", 1) for line in listing.splitlines() if "==" in line)
    return {name.lower().replace("_", "-"): version for name, version in pairs}


def colab_requirement():
    """The requirement a notebook's Colab cell installs, pointed at this checkout."""
    sys.path.insert(0, str(ROOT / "tools"))
    from booktools import colab_cell_source

    match = re.search(r'"(cnnbook @ git\+[^"]+)"', colab_cell_source())
    if match is None:
        raise SystemExit("the Colab cell no longer installs `cnnbook @ git+...`: update this tool")
    return re.sub(r"git\+\S+", ROOT.as_uri(), match.group(1))


def environment(name, python, requirements):
    """Create ``.venv-<name>`` with ``requirements`` once; reuse it while they are the same."""
    venv = ROOT / f".venv-{name}"
    stamp = venv / ".requirements"
    wanted = "\n".join([python, *requirements])
    if stamp.exists() and stamp.read_text() == wanted:
        print(f"reusing {venv.name} ({hashlib.sha1(wanted.encode()).hexdigest()[:8]})")
        return str(venv / "bin" / "python")
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", venv])
    run([venv / "bin" / "python", *PIP, *requirements])
    stamp.write_text(wanted)
    return str(venv / "bin" / "python")


def notebooks(python, extra_environment, workers=2):
    """Every notebook in smoke mode under nbval, with the environment's Python."""
    started = time.perf_counter()
    command = [python, "-m", "pytest", "book", "--nbval", "--nbval-current-env"]
    command += ["--nbval-sanitize-with", "nbval_sanitize.cfg", "-n", str(workers)]
    command += ["--dist", "loadscope", "-q"]
    run(command, cwd=ROOT, env={**os.environ, "CNNBOOK_SMOKE": "1", **extra_environment})
    print(f"notebooks passed in {time.perf_counter() - started:.0f} s")


def colab():
    python, version = find_python(("3.12", "3.11"))
    print(f"Colab's stack on Python {version} ({python}); Colab itself runs Python 3.12")
    stack = [line.strip() for line in COLAB_STACK.read_text().splitlines()]
    stack = [line for line in stack if line and not line.startswith("#")]
    venv_python = environment("colab", python, [*stack, *TEST_TOOLS])
    if "cnnbook" in freeze(venv_python):  # from an earlier run: install it afresh
        run([venv_python, "-m", "pip", "uninstall", "--quiet", "--yes", "cnnbook"])
    before = freeze(venv_python)
    run([venv_python, *PIP, *FRESH, colab_requirement()])  # what the Colab cell does
    after = freeze(venv_python)
    changed = {
        name: (before.get(name), after.get(name))
        for name in before.keys() | after.keys()
        if name != "cnnbook" and before.get(name) != after.get(name)
    }
    if changed:
        lines = [f"  {name}: {old} -> {new}" for name, (old, new) in sorted(changed.items())]
        raise SystemExit("installing cnnbook changed Colab's packages:\n" + "\n".join(lines))
    print(f"installing cnnbook changed none of the {len(before)} installed packages")
    for package in ("tensorflow", "keras", "numpy", "matplotlib"):
        print(f"  {package} {after.get(package)}")
    notebooks(venv_python, {"KERAS_BACKEND": "tensorflow"})


def backend(name):
    python, version = find_python(("3.11", "3.12"))
    extras = [TORCH] if name == "torch" else []
    venv_python = environment(name, python, [*extras, f"{ROOT}[{name},test]", "ipykernel>=6.29"])
    run([venv_python, *PIP, *FRESH, "--no-deps", "--force-reinstall", str(ROOT)])
    installed = freeze(venv_python)
    if "tensorflow" in installed:
        raise SystemExit(f"TensorFlow {installed['tensorflow']} is installed in .venv-{name}")
    print(
        f"Keras {installed.get('keras')} on {name} {installed.get(name)}, Python {version}, "
        "no TensorFlow"
    )
    notebooks(venv_python, {"KERAS_BACKEND": name, "JAX_PLATFORMS": "cpu"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("colab", help="every notebook on Colab's stack")
    on = commands.add_parser("backend", help="every notebook on another Keras backend")
    on.add_argument("name", choices=["jax", "torch"])
    args = parser.parse_args(argv)
    if args.command == "colab":
        colab()
    else:
        backend(args.name)


if __name__ == "__main__":
    main()
