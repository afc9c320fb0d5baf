"""Run the notebooks where readers run them: on Colab's stack, and on JAX or PyTorch.

    python tools/test_envs.py colab          # Colab's versions (ci/colab-stack.txt)
    python tools/test_envs.py backend jax    # Keras on JAX (training chapters in float16), no TF
    python tools/test_envs.py backend torch  # Keras on PyTorch (CPU), TensorFlow not installed
    python tools/test_envs.py precision      # the training chapters in mixed_bfloat16 on TF
    python tools/test_envs.py precision --all    # and in mixed_float16 on TF, bf16 and fp32 on JAX
    python tools/test_envs.py gpu-rehearsal  # the GPU machine's run, rehearsed on this CPU
    python tools/test_envs.py newest         # the newest Keras, TF, JAX, NumPy (pre-releases)

Each builds (or reuses) a virtual environment of its own beside `.venv` (`.venv-colab`,
`.venv-jax`, `.venv-torch`), then runs every notebook in smoke mode under nbval, as
`make notebooks-smoke` does in `.venv`. The Makefile wraps them (`make test-colab`,
`make test-backends`, `make test-precision`, `make test-gpu-rehearsal`).

In 16 bits: every notebook that applies the precision policy (each chapter that trains
with Keras calls ``use_precision()``; the others compute in float32 on a GPU too) runs with
``CNNBOOK_PRECISION=mixed_float16`` on JAX in `backend jax` (in `.venv-jax`) and with
``mixed_bfloat16`` on TensorFlow in `precision` (in `.venv`), as a GPU runs them
(``precision --all`` adds the other pairs; PRECISION_RUNS says why `make test` runs these);
outputs compared with nbval_sanitize.cfg plus nbval_sanitize_device.cfg (the
device-and-precision line). Then
the 16-bit tests of the Keras pieces (tests/test_mixed_precision.py), the optimizers'
step-by-step comparison with Keras (tests/test_optimizers.py) and where Keras computes
otherwise on PyTorch (tests/test_backend_differences.py) on PyTorch, in `.venv-torch`:
`make unit` runs them on TensorFlow and JAX. `backend torch` compares outputs with
nbval_sanitize.cfg plus nbval_sanitize_torch.cfg (that one difference's line).

The newest releases (`newest`, weekly in .github/workflows/newest.yml): `.venv-newest` on
the newest Python here that they support (3.13, then 3.12), with the newest Keras,
TensorFlow, JAX and NumPy, pre-releases included, built afresh each time; every notebook
on TensorFlow, then on JAX.

The GPU rehearsal (`gpu-rehearsal`): a fresh Python 3.12 environment holding only what
the lent GPU machine has (ci/gpu-machine.txt) that the book needs, the bundle of
`make gpu-bundle`, and tools/gpu_run.sh run on one training chapter (7) in full mode on the
CPU, as it runs on the GPU machine; its summary must say that nbval passed and the
accuracy band held.

For Colab, the environment first gets exactly the versions of ci/colab-stack.txt (and the
test tools, which Colab does not need); then cnnbook is installed the way a notebook's
Colab cell installs it, from this checkout instead of GitHub, and the run fails if that
install changed any package that was there. The notebooks then read CIFAR-10 in the
official binary format, as a Colab reader's download gives it: where only the JPEG copy
is here, tools/readers_cifar.py builds a stand-in for the official files from it.
"""

from __future__ import annotations

import argparse
import functools
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
SANITIZE = [ROOT / "nbval_sanitize.cfg", ROOT / "nbval_sanitize_device.cfg"]
#: What Keras computes otherwise on PyTorch, where the chapter says so (added to the book's).
SANITIZE_TORCH = [ROOT / "nbval_sanitize.cfg", ROOT / "nbval_sanitize_torch.cfg"]
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


def environment(name, python, requirements, reuse=True):
    """Create ``.venv-<name>`` with ``requirements`` once; reuse it while they are the same
    (unless ``reuse`` is False)."""
    venv = ROOT / f".venv-{name}"
    stamp = venv / ".requirements"
    wanted = "\n".join([python, *requirements])
    if reuse and stamp.exists() and stamp.read_text() == wanted:
        print(f"reusing {venv.name} ({hashlib.sha1(wanted.encode()).hexdigest()[:8]})")
        return str(venv / "bin" / "python")
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", venv])
    run([venv / "bin" / "python", *PIP, *requirements])
    stamp.write_text(wanted)
    return str(venv / "bin" / "python")


def notebooks(python, extra_environment, sanitize="nbval_sanitize.cfg", paths=("book",), workers=2):
    """Every notebook (or those of ``paths``) in smoke mode under nbval, with the
    environment's Python."""
    started = time.perf_counter()
    command = [python, "-m", "pytest", *paths, "--nbval", "--nbval-current-env"]
    command += ["--nbval-sanitize-with", str(sanitize), "-n", str(workers)]
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
    notebooks(venv_python, {"KERAS_BACKEND": "tensorflow", **readers_data()})


#: Where `readers_data` writes the readers' stand-in for the official CIFAR-10 files.
READERS_DATA = ROOT / "_build" / "data" / "cifar10-readers"


def readers_data():
    """``{"CNNBOOK_DATA_DIR": ...}`` pointing at a copy in the official binary format.

    A Colab reader's `load_cifar10` downloads the official files, not the JPEG copy CI
    has, so Colab's run reads tools/readers_cifar.py's stand-in for them (the same
    images, moved by a few levels of noise and shuffled), built once from the copy found
    here. Without any copy here (a machine with internet), the notebooks download the
    official files themselves: nothing to set.
    """
    sys.path.insert(0, str(ROOT))
    from cnnbook.datasets import cifar10_copy

    found = cifar10_copy()
    if found.startswith("none"):
        print("no CIFAR-10 copy here: the notebooks download the official files")
        return {}
    if found.startswith("official"):
        print(f"CIFAR-10: {found}, as readers have")
        return {}
    if not (READERS_DATA / "cifar-10-batches-bin" / "PROVENANCE.json").is_file():
        run([sys.executable, ROOT / "tools" / "readers_cifar.py", READERS_DATA], cwd=ROOT)
    print(f"CIFAR-10: readers' stand-in for the official files, built from the {found}")
    return {"CNNBOOK_DATA_DIR": str(READERS_DATA)}


@functools.cache  # once per process: `precision --all` runs two passes on JAX
def backend_environment(name):
    """``.venv-<name>``: cnnbook with Keras on JAX or PyTorch, no TensorFlow; its Python."""
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
    return venv_python


#: The policy `backend jax` runs the chapters that apply the precision in: they run once
#: on JAX in `make test`, in 16 bits, as a GPU runs them (the other chapters never read
#: CNNBOOK_PRECISION). `precision --all` runs them in float32 on JAX too, weekly.
JAX_PRECISION = "mixed_float16"


def backend(name):
    venv_python = backend_environment(name)
    environment = {"KERAS_BACKEND": name, "JAX_PLATFORMS": "cpu"}
    if name == "jax":
        print(f"the chapters that apply the precision in {JAX_PRECISION}", flush=True)
        environment["CNNBOOK_PRECISION"] = JAX_PRECISION
        notebooks(venv_python, environment, combined_sanitize_file())
    else:
        notebooks(venv_python, environment, combined_sanitize_file(SANITIZE_TORCH))


def combined_sanitize_file(files=SANITIZE):
    """nbval reads one sanitize file: the book's own, then the others of ``files`` (by
    default the device-and-precision line's), written into _build/ under the last's name."""
    combined = ROOT / "_build" / files[-1].name
    combined.parent.mkdir(exist_ok=True)
    combined.write_text("\n".join(path.read_text() for path in files))
    return combined


#: Unit tests with cases per Keras backend whose PyTorch cases `precision` runs (the last:
#: where Keras computes otherwise on PyTorch, as the book says).
TORCH_TESTS = ["test_mixed_precision.py", "test_optimizers.py", "test_backend_differences.py"]


def precision_notebooks():
    """The notebooks that apply the precision policy: those that call ``use_precision``.

    The others never read ``CNNBOOK_PRECISION`` and compute in float32 on a GPU too, so
    `make notebooks-smoke` has run them exactly as a 16-bit run would;
    tests/test_project.py checks that these are the chapters that train with Keras.
    """
    import json

    chosen = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = ("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        if any("use_precision(" in source for source in code):
            chosen.append(str(path.relative_to(ROOT)))
    return chosen


#: The runs of `precision`: (backend, policy). On this CPU TensorFlow has bfloat16 (oneDNN,
#: AVX-512 BF16) but emulates float16: a training step of a small CNN took 46 ms in
#: mixed_bfloat16 and 5.1 s in mixed_float16 (37 ms in float32; benchmarks/bench_precision.py).
#: So `make test` runs bfloat16 on TensorFlow here and float16 on JAX in `backend jax`
#: (JAX_PRECISION; about as fast as float32 there): each policy and each backend once.
#: `--all` adds the other pairs, float16 on TensorFlow among them (what Colab's T4 runs),
#: and float32 on JAX, for the weekly workflow.
PRECISION_RUNS = [("tensorflow", "mixed_bfloat16")]
PRECISION_RUNS_WEEKLY = [
    ("tensorflow", "mixed_float16"),
    ("jax", "mixed_bfloat16"),
    ("jax", "float32"),
]


def precision(every_pair=False):
    sanitize = combined_sanitize_file()
    paths = precision_notebooks()
    print(f"{len(paths)} notebooks apply the precision: {', '.join(paths)}", flush=True)
    runs = PRECISION_RUNS + (PRECISION_RUNS_WEEKLY if every_pair else [])
    for backend_name, policy in runs:
        print(f"in {policy}, on {backend_name}", flush=True)
        if backend_name == "tensorflow":
            python, environment = sys.executable, {}
        else:
            python, environment = backend_environment("jax"), {"JAX_PLATFORMS": "cpu"}
        environment.update(KERAS_BACKEND=backend_name, CNNBOOK_PRECISION=policy)
        notebooks(python, environment, sanitize, paths)
    # `make unit` runs these on TensorFlow and JAX, in both policies; their PyTorch cases
    # skip there.
    print(
        "the Keras pieces in 16 bits, the optimizers against Keras, and where Keras differs, "
        "on PyTorch",
        flush=True,
    )
    tests = [ROOT / "tests" / name for name in TORCH_TESTS]
    run(
        [backend_environment("torch"), "-m", "pytest", *tests, "-k", "torch", "-p", "no:xdist"],
        cwd=ROOT,
    )


#: The packages whose newest releases `newest` tries, pre-releases included.
NEWEST = ["keras", "tensorflow", "jax", "numpy"]


def newest():
    python, version = find_python(("3.13", "3.12"))
    requirements = ["--pre", "--upgrade", f"{ROOT}[tf,jax,test]", "ipykernel>=6.29", *NEWEST]
    venv_python = environment("newest", python, requirements, reuse=False)
    installed = freeze(venv_python)
    print(f"Python {version}: " + ", ".join(f"{name} {installed.get(name)}" for name in NEWEST))
    notebooks(venv_python, {"KERAS_BACKEND": "tensorflow"})
    notebooks(venv_python, {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"})


#: What the rehearsal runs: a chapter that imports Keras, trains a network and checks its
#: accuracy band, in about a minute on 2 cores in full mode (chapter 4's CIFAR-10 training
#: took 25 minutes here on JAX on a loaded machine: too long for every CI run).
REHEARSED_NOTEBOOK = "book/07-fully-connected.ipynb"
#: The GPU machine's JAX (KINDS.md of the device tool, 2026-11): the rehearsal uses the
#: same release, on the CPU.
GPU_MACHINE_JAX = "jax==0.11.2"


def gpu_rehearsal():
    """tools/gpu_run.sh on one chapter, in an environment like the GPU machine's."""
    import json

    run([sys.executable, ROOT / "tools" / "gpu_bundle.py", "--out", ROOT / "gpu-bundle"])
    bundle = ROOT / "gpu-bundle"
    provided = bundle.joinpath("provided.txt").read_text().split()
    python, version = find_python(("3.12",))
    # The machine's own packages that the bundle relies on, and the ones the book
    # imports from it: JAX (CPU here, CUDA there) and scikit-learn (the digits).
    machine = environment("gpu-machine", python, [*provided, GPU_MACHINE_JAX, "scikit-learn"])
    out = ROOT / "_build" / "gpu-rehearsal"
    shutil.rmtree(out, ignore_errors=True)
    site = ROOT / "_build" / "gpu-rehearsal-site"
    shutil.rmtree(site, ignore_errors=True)
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CNNBOOK_", "KERAS_", "PYTHON", "VIRTUAL_ENV"))
    }
    clean.update(
        PYTHON=machine,
        OUT=str(out),
        CNNBOOK_GPU_SITE=str(site),
        CNNBOOK_GPU_DATA=str(ROOT / "_build" / "gpu-rehearsal-data"),
        JAX_PLATFORMS="cpu",
        PIP_CONFIG_FILE=os.devnull,  # offline, as there: no index, no find-links from here
    )
    command = ["bash", ROOT / "tools" / "gpu_run.sh", "--notebooks", REHEARSED_NOTEBOOK]
    limits = ["--deadline", "1800", "--stop-after", "1800"]
    run([*command, "--benchmark-runs", "0", *limits], cwd=ROOT, env=clean)
    summary = json.loads((out / "summary.json").read_text())
    (chapter,) = summary["chapters"]
    print(json.dumps(chapter))
    if chapter["nbval"] != "passed" or not chapter.get("band_held"):
        raise SystemExit(f"the rehearsal of {REHEARSED_NOTEBOOK} failed: see {out}/book.log")
    print(f"GPU run rehearsed on Python {version}, {summary['device']}: {chapter['seconds']} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("colab", help="every notebook on Colab's stack")
    on = commands.add_parser("backend", help="every notebook on another Keras backend")
    on.add_argument("name", choices=["jax", "torch"])
    sixteen = commands.add_parser(
        "precision", help="the training chapters, and the Keras pieces, in 16 bits"
    )
    sixteen.add_argument(
        "--all", action="store_true", help="both policies on both backends (float16 on TF is slow)"
    )
    commands.add_parser("gpu-rehearsal", help="tools/gpu_run.sh on one chapter, on this CPU")
    commands.add_parser("newest", help="every notebook on the newest Keras, TF, JAX and NumPy")
    args = parser.parse_args(argv)
    if args.command == "colab":
        colab()
    elif args.command == "backend":
        backend(args.name)
    elif args.command == "precision":
        precision(every_pair=args.all)
    elif args.command == "newest":
        newest()
    else:
        gpu_rehearsal()


if __name__ == "__main__":
    main()
