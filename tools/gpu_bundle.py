"""Collect what the lent GPU machine lacks to run the book: `make gpu-bundle`.

    python tools/gpu_bundle.py [--out gpu-bundle]

The GPU machine (ci/gpu-machine.txt) has Python 3.12 with JAX and PyTorch on CUDA, NumPy,
matplotlib, scikit-learn and more, but no Keras, no Jupyter and no internet; at most
64 MiB travel with a call. This resolves, for CPython 3.12 on x86-64 Linux, everything
the book needs (cnnbook with Keras, nbval and the Jupyter kernel stack), leaves out what
that machine has, and writes into one git-ignored folder:

    gpu-bundle/wheels/          the missing wheels, cnnbook's own among them
    gpu-bundle/requirements.txt what tools/gpu_run.sh installs from them, offline
    gpu-bundle/provided.txt     what the bundle expects the machine to have (name==version
                                as resolved here; any version the requirements admit will do)
    gpu-bundle/data/            the CIFAR-10 copy from ../shared/data

tools/gpu_run.sh installs it with `pip install --no-index` and runs the book.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MACHINE = ROOT / "ci" / "gpu-machine.txt"
DATA = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
#: What the book needs there besides cnnbook's own requirements. Keras at the version
#: this checkout is tested with; the kernel stack that nbval drives.
NEEDED = ["nbval>=0.11", "ipykernel>=6.29"]
TARGET = [
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
    "--abi",
    "cp312",
]
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (39, 35, 34, 31, 28, 27, 24, 17)]
PLATFORMS += ["manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64"]
#: The wheels must leave room for the data (19 MB) and the checkout under 64 MiB.
WHEEL_BUDGET_MB = 30


def normalize(name):
    """PEP 503 name: ``Typing_Extensions`` -> ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def machine_packages(path=MACHINE):
    """Names of the packages the GPU machine has, from ci/gpu-machine.txt."""
    lines = (line.split("#")[0].strip() for line in Path(path).read_text().splitlines())
    return {normalize(line) for line in lines if line}


def pip(*arguments, **kwargs):
    command = [sys.executable, "-m", "pip", *arguments, "--disable-pip-version-check"]
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def keras_requirement():
    """Keras at the version installed here: the one the book's outputs were made with."""
    from importlib.metadata import version

    return f"keras=={version('keras')}"


def build_cnnbook_wheel(directory):
    pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(directory), str(ROOT))
    (wheel,) = Path(directory).glob("cnnbook-*.whl")
    return wheel


def resolve(requirements, find_links):
    """{name: version} of everything pip installs for ``requirements`` on the GPU machine."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        platforms = [part for platform in PLATFORMS for part in ("--platform", platform)]
        pip(
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--target",
            str(Path(scratch) / "target"),
            "--report",
            str(report),
            "--find-links",
            str(find_links),
            *TARGET,
            *platforms,
            *requirements,
        )
        installs = json.loads(report.read_text())["install"]
    return {normalize(item["metadata"]["name"]): item["metadata"]["version"] for item in installs}


def download(pins, directory):
    platforms = [part for platform in PLATFORMS for part in ("--platform", platform)]
    pip("download", "--quiet", "--no-deps", "-d", str(directory), *TARGET, *platforms, *pins)


def bundle(out):
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    wheels = out / "wheels"
    wheels.mkdir(parents=True)
    cnnbook_wheel = build_cnnbook_wheel(wheels)
    requirements = [f"cnnbook @ {cnnbook_wheel.as_uri()}", keras_requirement(), *NEEDED]
    resolved = resolve(requirements, wheels)
    have = machine_packages()
    missing = {name: v for name, v in resolved.items() if name not in have and name != "cnnbook"}
    provided = {name: v for name, v in resolved.items() if name in have}
    download([f"{name}=={version}" for name, version in sorted(missing.items())], wheels)

    (out / "requirements.txt").write_text(
        "\n".join(["cnnbook", *(f"{n}=={v}" for n, v in sorted(missing.items()))]) + "\n"
    )
    (out / "provided.txt").write_text(
        "".join(f"{name}=={version}\n" for name, version in sorted(provided.items()))
    )
    if DATA.exists():
        (out / "data").mkdir()
        shutil.copy2(DATA, out / "data" / DATA.name)
    else:
        print(f"warning: no CIFAR-10 copy at {DATA}: the bundle has no data", file=sys.stderr)

    size = sum(path.stat().st_size for path in wheels.iterdir()) / 2**20
    total = sum(path.stat().st_size for path in out.rglob("*") if path.is_file()) / 2**20
    print(
        f"{out}: {len(missing) + 1} wheels ({size:.1f} MiB), {len(provided)} packages expected "
        f"on the machine, {total:.1f} MiB in all"
    )
    if size > WHEEL_BUDGET_MB:
        raise SystemExit(f"the wheels take {size:.1f} MiB, over the {WHEEL_BUDGET_MB} MiB budget")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "gpu-bundle"), help="the bundle's folder")
    args = parser.parse_args(argv)
    bundle(args.out)


if __name__ == "__main__":
    main()
