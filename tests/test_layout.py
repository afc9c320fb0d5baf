"""The package's layout: two engines, one home for each name, and public functions
between modules."""

import ast
import importlib
import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(importlib.import_module("cnnbook").__file__).parent


def imports(path):
    """Every ``(module, [names])`` that the file at ``path`` imports (names empty for
    ``import module``), relative imports resolved as absolute ``cnnbook`` ones."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", [alias.name for alias in node.names]


@pytest.mark.parametrize(
    "old", ["cnnbook.layers", "cnnbook.models", "cnnbook.training", "cnnbook.fast_training"]
)
def test_each_engine_has_one_module_per_name_and_no_old_paths(old):
    # The Keras engine lives in cnnbook.keras, the NumPy one in cnnbook.nn: no aliases.
    assert importlib.util.find_spec(old) is None
    assert not (ROOT / "_moved.py").exists()


def test_keras_pooling_has_the_numpy_engines_name_only(keras):
    from cnnbook import nn
    from cnnbook.keras import layers

    assert layers.__all__ == ["DropConnectDense", "StochasticPool2D"]
    assert not hasattr(layers, "StochasticPooling2D")
    assert nn.StochasticPool2D.__name__ == layers.StochasticPool2D.__name__


def test_importing_cnnbook_imports_neither_keras_nor_tensorflow():
    code = "import sys, cnnbook; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.split() == ["False", "False"]


KERAS_ENGINE = [
    "layers",
    "models",
    "training",
    *(
        f"fast_training.{path.stem}"
        for path in sorted((ROOT / "keras" / "fast_training").glob("*.py"))
        if path.stem != "__init__"
    ),
]


@pytest.mark.parametrize("module", KERAS_ENGINE)
def test_every_keras_engine_module_imports_keras_through_import_keras(module):
    # As cnnbook.keras's docstring says: importing one of its modules imports Keras, on
    # the backend KERAS_BACKEND names, by one function (which quiets TensorFlow first).
    path = ROOT / "keras" / f"{module.replace('.', '/')}.py"
    tree = ast.parse(path.read_text())
    statements = [
        statement
        for statement in tree.body
        if isinstance(statement, ast.Assign)
        and [target.id for target in statement.targets if isinstance(target, ast.Name)] == ["keras"]
    ]
    # A module that names keras at all (fast_training.recipe does not) gets it this way.
    uses_keras = any(isinstance(node, ast.Name) and node.id == "keras" for node in ast.walk(tree))
    expected = ["import_keras()"] if uses_keras else []
    assert [ast.unparse(statement.value) for statement in statements] == expected
    assert not [name for name, _ in imports(path) if name.split(".")[0] == "keras"], path
    code = f"import sys, cnnbook.keras.{module}; print('keras' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.split() == ["True"]


def test_each_engine_imports_only_its_side():
    """The NumPy engine never imports the Keras one (one direction of dependency)."""
    numpy_side = [ROOT / "conv.py", ROOT / "pool.py", ROOT / "regularization.py"]
    for path in [*numpy_side, *ROOT.glob("nn/*.py")]:
        for module, _ in imports(path):
            assert not module.startswith(("keras", "cnnbook.keras")), (path, module)


def test_no_module_imports_another_modules_private_names():
    # cnnbook.nn is built on the public functions of conv, pool and regularization: what
    # its layers need, a reader can call too. What modules share but readers do not
    # call lives under public names in private modules (_arguments, _pooling, _windows).
    for path in ROOT.rglob("*.py"):
        for module, names in imports(path):
            private = [name for name in names if name.startswith("_")]
            assert not private, (str(path.relative_to(ROOT)), module, private)


def listed_names(module):
    """The ``__all__`` written in ``module``'s source, or None (none, or not a literal)."""
    path = ROOT.parent.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.Assign) and ast.unparse(statement.targets[0]) == "__all__":
            try:
                return ast.literal_eval(statement.value)
            except ValueError:
                return None
    return None


def test_names_imported_between_modules_are_listed_in_their_all():
    for path in ROOT.rglob("*.py"):
        for module, names in imports(path):
            listed = listed_names(module) if module.startswith("cnnbook") else None
            if listed is None:
                continue
            folder = ROOT.parent.joinpath(*module.split("."))
            public = [
                name
                for name in names
                if not name.startswith("_") and name != "*" and not (folder / f"{name}.py").exists()
            ]
            missing = sorted(set(public) - set(listed))
            assert not missing, (str(path.relative_to(ROOT)), module, missing)
