"""The project's own promises: install metadata, notebooks, book configuration."""

import ast
import re
import subprocess
import time
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tools import booktools
from tools.booktools import code_without_magics

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NOTEBOOKS = booktools.notebooks()


def pyproject_requirements(extras=None):
    """Requirements of cnnbook and of ``extras`` (default: every extra), as {name: specifier}."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if extras is None or name in extras:
            lines += [line for line in extra if not line.startswith("cnnbook")]
    requirements = {}
    for line in lines:
        requirement = Requirement(line)
        requirements[canonicalize_name(requirement.name)] = requirement.specifier
    return requirements


# conda-forge's name for a package where it differs from PyPI's.
CONDA_TO_PYPI = {"python-build": "build"}


def environment_requirements():
    """Every package of environment.yml (conda and pip sections) as {name: specifier}."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    lines = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            lines += [line for line in entry["pip"] if not line.startswith("-")]
        else:
            lines.append(entry)
    requirements = {}
    for line in lines:
        name, specifier = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", line).groups()
        name = CONDA_TO_PYPI.get(name, name)
        requirements[canonicalize_name(name)] = SpecifierSet(specifier)
    return requirements


def test_environment_yml_agrees_with_pyproject():
    conda = environment_requirements()
    python = conda.pop("python")
    conda.pop("pip")
    (dev,) = PYPROJECT["project"]["optional-dependencies"]["dev"]  # cnnbook[tf,book,test]
    assert conda == pyproject_requirements(Requirement(dev).extras)
    assert python == SpecifierSet(PYPROJECT["project"]["requires-python"])


def colab_stack():
    """{package: version} of ci/colab-stack.txt, the one list of what Colab ships."""
    lines = (ROOT / "ci" / "colab-stack.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(pin.name): str(pin.specifier).removeprefix("==") for pin in pins}


def test_core_dependencies_leave_colab_alone():
    core = {
        canonicalize_name(Requirement(line).name): Requirement(line).specifier
        for line in PYPROJECT["project"]["dependencies"]
    }
    assert set(core) == {"numpy", "matplotlib", "pillow"}, "TensorFlow and Keras stay extras"
    # Installing cnnbook in Colab must keep Colab's versions: every bound must admit them.
    stack = colab_stack()
    assert {"numpy", "tensorflow", "keras"} <= set(stack)
    for name, version in stack.items():
        specifier = core.get(name) or pyproject_requirements().get(name, SpecifierSet())
        assert specifier.contains(version), f"{name}{specifier} would replace Colab's {version}"
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains("3.12")


def test_the_book_extra_has_what_the_chapters_need_at_run_time():
    # load_digits (chapters 7 and 8) reads scikit-learn's digits.
    assert "scikit-learn" in pyproject_requirements(["book"])


def test_book_toolchain_is_jupyter_book_1():
    assert pyproject_requirements()["jupyter-book"] == SpecifierSet(">=1.0.4.post1,<2")


def test_there_are_notebooks():
    assert NOTEBOOKS, "book/ has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_first_code_cell_installs_cnnbook_in_colab_only(path):
    notebook = nbformat.read(path, as_version=4)
    cell = booktools.first_code_cell(notebook)
    assert cell.source == booktools.colab_cell_source(), "run `make colab-cells`"
    assert cell.outputs == [], "outside Colab the install cell prints nothing"


def test_colab_cell_installs_from_the_configured_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]  # the one place the repository's address is written
    assert url.startswith("https://github.com/")
    assert f"git+{url}" in booktools.colab_cell_source()
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_stored_executed_and_clean(path):
    notebook = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code_cells]
    assert None not in counts, "every code cell is stored executed (nbval skips the others)"
    assert counts == list(range(1, len(counts) + 1)), "executed top to bottom, in one run"
    for cell in code_cells:
        for output in cell.outputs:
            assert output.output_type != "error", cell.source
            assert output.get("name") != "stderr", f"stderr stored in: {cell.source[:60]}"
            text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
            assert not re.search(r"0x[0-9a-f]{6,}|/home/|/root/|/tmp/|Warning", text), text


def test_toc_lists_every_chapter_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["format"] == "jb-book"
    entries = [toc["root"]] + [entry["file"] for entry in toc["chapters"]]
    for entry in entries:
        assert (ROOT / f"{entry}.ipynb").is_file() or (ROOT / f"{entry}.md").is_file(), entry
    listed = [ROOT / f"{entry}.ipynb" for entry in entries if (ROOT / f"{entry}.ipynb").is_file()]
    assert listed == NOTEBOOKS, "_toc.yml lists every book/*.ipynb, in chapter order"


def test_book_is_built_from_stored_outputs():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True


def test_check_gpu_fails_on_a_cpu_unless_allowed(monkeypatch, capsys):
    from cnnbook import runtime

    monkeypatch.setattr(runtime, "visible_gpus", lambda: [])
    assert booktools.check_gpu() == 1
    assert "ALLOW_CPU=1" in capsys.readouterr().err
    assert booktools.check_gpu(allow_cpu=True) == 0
    monkeypatch.setattr(runtime, "visible_gpus", lambda: [("NVIDIA T4", (7, 5))])
    assert booktools.check_gpu() == 0
    assert "mixed_float16" in capsys.readouterr().out


def test_the_gpu_run_counts_cells_from_their_own_lines():
    from tools import gpu_book

    output = (
        "book/07-x::ipynb::Cell 0 PASSED     [ 20%]\n"
        "book/07-x::ipynb::Cell 1 FAILED     [ 40%]\n"
        "book/07-x::ipynb::Cell 2 ERROR      [ 60%]\n"
        "book/07-x::ipynb::Cell 3 PASSED     [ 80%]\n"
        "FAILED book/07-x::ipynb::Cell 1 - nbval: outputs differ\n"
        "book/07-x::ipynb::Cell 4 "  # stopped while it ran: in neither list
    )
    assert gpu_book.cell_outcomes(output) == ([0, 3], [1, 2])
    assert gpu_book.cell_outcomes("") == ([], [])


def test_the_gpu_run_logs_each_line_as_it_comes_and_stops_what_runs_too_long():
    import io
    import sys

    from tools import gpu_book

    log = io.StringIO()
    returncode, output, stopped = gpu_book.stream(
        [sys.executable, "-c", "print('cell 1')"], log, 60
    )
    assert (returncode, output, stopped) == (0, "cell 1\n", False)
    assert re.fullmatch(r"\[ +\d+ s\] cell 1\n", log.getvalue())
    # A command that outlives its time is killed, with what it started: here a process in
    # a session of its own that holds the output pipe, as a notebook's kernel does. The
    # output so far is kept and was logged as it came, the unfinished line too.
    script = (
        "import subprocess, sys, time\n"
        "held = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
        "                        start_new_session=True)\n"
        "print(held.pid, flush=True)\n"
        "print('cell 2 ', end='', flush=True)\n"
        "time.sleep(60)"
    )
    log = io.StringIO()
    started = time.perf_counter()
    returncode, output, stopped = gpu_book.stream([sys.executable, "-c", script], log, 3)
    assert stopped and returncode < 0 and output.endswith("\ncell 2 ")
    assert time.perf_counter() - started < 30  # nothing held the pipe open
    assert re.search(r"^\[ +[0-2] s\] cell 2 \n", log.getvalue(), re.MULTILINE)  # before 3 s
    held = int(output.split()[0])
    for _ in range(50):  # gone, or a zombie left for init to reap
        stat = Path(f"/proc/{held}/stat")
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"process {held} outlived the stop")


def test_make_test_gpu_runs_every_notebook_in_full_mode_under_nbval():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest-gpu:", 1)[1].split("\n\n", 1)[0]
    assert "--nbval " in recipe and "CNNBOOK_SMOKE" not in recipe and "pytest book" in recipe


def test_strict_build_and_browser_test_read_a_fresh_build():
    # `make -n` prints the commands without running them: those of the browser test
    # must rebuild every page first, whatever an earlier `make book` left.
    commands = subprocess.run(
        ["make", "-n", "browser"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    build = re.search(r"^.*jupyter-book build .*$", commands, re.MULTILINE)
    assert build and "--all" in build.group(0).split() and "-W" in build.group(0).split()
    assert commands.index("jupyter-book build") < commands.index("tests/browser")


def test_make_test_runs_the_notebooks_on_colabs_stack_on_jax_and_on_pytorch():
    makefile = (ROOT / "Makefile").read_text()
    targets = re.search(r"^test: (.*?)  ##", makefile, re.MULTILINE).group(1).split()
    assert targets.index("notebooks-smoke") < targets.index("test-colab")
    backends = re.search(r"^test-backends: (.*?)  ##", makefile, re.MULTILINE).group(1)
    assert backends.split() == ["test-backends-jax", "test-backends-torch"]
    # 16 bits on every commit, after the JAX environment it reuses is built.
    assert targets.index("test-backends") < targets.index("test-precision")


def test_make_test_runs_each_16_bit_policy_and_each_backend_once():
    from tools import test_envs

    runs = set(test_envs.PRECISION_RUNS) | {("jax", test_envs.JAX_PRECISION)}
    assert {policy for _, policy in runs} == {"mixed_float16", "mixed_bfloat16"}
    assert {backend for backend, _ in runs} == {"tensorflow", "jax"}
    weekly = runs | set(test_envs.PRECISION_RUNS_WEEKLY)
    sixteen = {(b, p) for b in ("tensorflow", "jax") for p in ("mixed_float16", "mixed_bfloat16")}
    assert sixteen <= weekly, "every 16-bit pair runs weekly"
    assert ("jax", "float32") in weekly, "JAX's float32 training chapters, weekly"


def test_colab_environment_installs_cnnbook_as_the_colab_cell_does():
    from tools import test_envs

    requirement = test_envs.colab_requirement()
    assert requirement == f"cnnbook @ {ROOT.as_uri()}"
    assert "cnnbook @ git+" in booktools.colab_cell_source()
    python, version = test_envs.find_python(("3.12", "3.11"))
    assert version in ("3.12", "3.11") and Path(python).exists()


#: How a chapter trains with Keras: compiling a model, or the package's training helpers.
KERAS_TRAINING = re.compile(r"\.compile\(|train_fast\(|train_and_evaluate\(")
#: Chapters that fit a model the package compiled for them (no `.compile(` of their own).
FITS_A_PACKAGE_MODEL = {"09a-cifar10-keras"}
#: Where the training starts: a chapter may build and compile its network before it sets
#: the precision (to time one step of it), but not fit it.
TRAINING_STARTS = re.compile(r"\.fit\(|train_fast\(|train_and_evaluate\(")


#: The two lines that set and show the precision (comments aside), the same in every chapter
#: (a chapter may pass its own training step, to use bfloat16 on a CPU where that is faster).
PRECISION_CELL = re.compile(r"use_precision\((cpu_bfloat16=\w+)?\)\nprint\(describe_device\(\)\)")


def code_without_comments(source):
    lines = (line.split("#")[0].rstrip() for line in source.splitlines())
    return "\n".join(line for line in lines if line)


#: Calls that build a Keras model: Keras's own, and the package's networks and steps.
MODEL_BUILDERS = {
    "Sequential", "Model", "compile", "load_model", "clone_model",
    "tutorial_cnn", "improved_cnn", "fast_cnn", "training_step",
}  # fmt: skip


def calls(node):
    """The names of the functions called in ``node`` (``f(...)`` and ``a.f(...)``)."""
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            yield getattr(call.func, "attr", getattr(call.func, "id", None))


def models_built_at_top_level(sources):
    """The calls in these cells, outside any function, that build a Keras model: Keras's
    and the package's builders, and the cells' own functions that call one (at any
    depth). (A layer made on its own before the policy is set keeps float32 too; no
    chapter trains one, and this does not look for them.)"""
    trees = [ast.parse(code_without_magics(source)) for source in sources]
    functions = {}  # a name defined twice: what either definition calls
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                functions.setdefault(node.name, set()).update(calls(node))
    builders = set(MODEL_BUILDERS)
    while grown := {name for name, called in functions.items() if called & builders} - builders:
        builders |= grown
    for tree in trees:
        for statement in tree.body:
            if not isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
                yield from (name for name in calls(statement) if name in builders)


def test_every_chapter_that_trains_with_keras_applies_the_precision_the_same_way():
    trains = {}
    for path in NOTEBOOKS:
        sources = booktools.code_sources(path)
        keras = path.stem in FITS_A_PACKAGE_MODEL or any(map(KERAS_TRAINING.search, sources))
        if not keras:
            continue
        first_training = next(i for i, s in enumerate(sources) if TRAINING_STARTS.search(s))
        precision = [
            i
            for i, source in enumerate(sources)
            if PRECISION_CELL.search(code_without_comments(source))
        ]
        trains[path.stem[:3]] = precision
        assert precision, f"{path.name}: no precision cell"  # chapter 10 has one per network
        assert precision[0] < first_training, f"{path.name}: the precision is set after training"
        # A model built before the policy is set keeps float32 layers: before the
        # precision cell a network may be built inside a function (to time), never run.
        early = sorted(models_built_at_top_level(sources[: precision[0]]))
        assert not early, f"{path.name}: built before the precision is set: {early}"
    assert {"04-", "09a", "09b", "09d", "10-", "11-"} <= set(trains), sorted(trains)
    # ... and the 16-bit runs of the notebooks (tools/test_envs.py precision) run exactly these.
    from tools.test_envs import precision_notebooks

    assert sorted(Path(path).stem[:3] for path in precision_notebooks()) == sorted(trains)


def test_a_model_built_before_the_precision_is_found_through_the_cells_functions():
    cells = [
        "%matplotlib inline\ndef network():\n    return keras.Sequential([])\n",
        "def one_step():  # built when called: allowed\n"
        "    return random_batch_step(network(), 64)\n",
    ]
    assert list(models_built_at_top_level(cells)) == []
    assert list(models_built_at_top_level([*cells, "model = one_step()"])) == ["one_step"]
    assert list(models_built_at_top_level(["m = keras.Sequential([])"])) == ["Sequential"]
    assert list(models_built_at_top_level(["net = tutorial_cnn()"])) == ["tutorial_cnn"]


def softmax_layers(source):
    """The calls of a cell's code that make a softmax layer: ``Dense(..., activation=
    "softmax", ...)``, ``Activation("softmax", ...)`` or ``Softmax(...)``."""
    for node in ast.walk(ast.parse(code_without_magics(source))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", None))
        arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
        says_softmax = any(
            isinstance(value, ast.Constant) and value.value == "softmax" for value in arguments
        )
        if name == "Softmax" or (name in ("Dense", "Activation") and says_softmax):
            yield node


def test_every_softmax_of_a_chapter_that_sets_the_precision_computes_in_float32():
    # Under a mixed policy a layer computes in float16 or bfloat16, where probabilities
    # near 1 round to a few values and their logarithm, the loss, with them; so the
    # output layer keeps float32, as the package's networks do.
    from tools.test_envs import precision_notebooks

    checked = mentions = 0
    for path in precision_notebooks():
        for source in booktools.code_sources(path):
            mentions += code_without_comments(source).count('"softmax"')
            for layer in softmax_layers(source):
                checked += 1
                dtype = {k.arg: k.value for k in layer.keywords}.get("dtype")
                assert isinstance(dtype, ast.Constant) and dtype.value == "float32", (
                    f"{Path(path).name}: {ast.unparse(layer)}"
                )
    assert checked == mentions >= 4  # chapters 4, 10 (two networks) and 11 build their own


def test_softmax_layers_are_found_whatever_their_other_arguments():
    source = (
        "%pip install x\n"
        'layers.Dense(10, activation="softmax", kernel_constraint=limit(0))\n'
        'keras.layers.Activation("softmax", dtype="float32")\n'
        "layers.Softmax()\n"
        'layers.Dense(10, activation="relu")\n'
    )
    assert [ast.unparse(call.func) for call in softmax_layers(source)] == [
        "layers.Dense",
        "keras.layers.Activation",
        "layers.Softmax",
    ]


def test_mutation_testing_runs_weekly_on_its_own_not_in_make_test():
    from tools import mutation

    makefile = (ROOT / "Makefile").read_text()
    targets = re.search(r"^test: (.*?)  ##", makefile, re.MULTILINE).group(1).split()
    assert "mutation" not in targets and "mutation" in makefile.split(".PHONY:")[1].split("\n\n")[0]
    recipe = makefile.split("\nmutation:", 1)[1].split("\n\n", 1)[0]
    assert "tools/mutation.py" in recipe
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "mutation.yml").read_text())
    assert set(workflow[True]) == {"schedule", "workflow_dispatch"}  # `on:` reads as True
    assert "make mutation" in [step.get("run") for step in workflow["jobs"]["mutation"]["steps"]]
    # What each part mutates and runs exists, and its settings are valid TOML for mutmut.
    for part, chosen in mutation.PARTS.items():
        assert all(list(ROOT.glob(pattern)) for pattern in chosen["sources"]), part
        assert all((ROOT / path).is_file() for path in chosen["tests"]), part
        for test in chosen["deselect"]:
            path, name = test.split("::")
            assert f"def {name}(" in (ROOT / path).read_text(), test
        settings = tomllib.loads(mutation.mutmut_config(part))["tool"]["mutmut"]
        assert settings["only_mutate"] == chosen["sources"]
    assert (ROOT / "benchmarks" / "mutation.md").is_file()


def test_mutation_shields_only_the_inits_keras_inspects(tmp_path):
    """Keras reads a layer's __init__ arguments, which mutmut's decorator hides: those
    (and only those) are marked not to mutate, in the work folder's copy."""
    from tools import mutation

    module = tmp_path / "layers.py"
    module.write_text(
        "import keras\n\n\n"
        "class Layer(keras.layers.Layer):\n"
        "    def __init__(self, factor, **kwargs):\n"
        "        super().__init__(**kwargs)\n\n"
        "    def call(self, inputs):\n"
        "        return inputs\n\n\n"
        "class Plain:\n"
        "    def __init__(self, factor):\n"
        "        self.factor = factor\n"
    )
    mutation.shield_keras_layer_inits(module)
    marked = [line for line in module.read_text().splitlines() if "no mutate" in line]
    assert marked == ["    def __init__(self, factor, **kwargs):  # pragma: no mutate block"]
    module.write_text(
        "import keras\n\n\nclass Layer(keras.layers.Layer):\n"
        "    def __init__(\n        self, factor\n    ):\n        pass\n"
    )
    with pytest.raises(ValueError, match="on one line"):
        mutation.shield_keras_layer_inits(module)
