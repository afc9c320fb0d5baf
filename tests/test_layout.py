"""The package's layout: two engines, and the old module paths as deprecated aliases."""

import importlib
import subprocess
import sys

import pytest

MOVED = {
    "cnnbook.layers": "cnnbook.keras.layers",
    "cnnbook.models": "cnnbook.keras.models",
    "cnnbook.training": "cnnbook.keras.training",
    "cnnbook.fast_training": "cnnbook.keras.fast_training",
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_moved_module_warns_and_keeps_its_names(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        module = importlib.import_module(old)
    new = importlib.import_module(MOVED[old])
    assert module.__all__ == new.__all__
    for name in new.__all__:
        assert getattr(module, name) is getattr(new, name), name


def test_old_training_path_still_gives_device_detection():
    sys.modules.pop("cnnbook.training", None)
    with pytest.warns(DeprecationWarning):
        from cnnbook.training import choose_precision
    from cnnbook.runtime import choose_precision as home

    assert choose_precision is home


def test_keras_pooling_has_one_name_and_the_keras_style_alias():
    from cnnbook import nn
    from cnnbook.keras import layers

    assert layers.StochasticPooling2D is layers.StochasticPool2D
    assert nn.StochasticPool2D.__name__ == layers.StochasticPool2D.__name__


def test_importing_cnnbook_imports_neither_keras_nor_tensorflow():
    code = "import sys, cnnbook; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.split() == ["False", "False"]


def test_each_engine_imports_only_its_side():
    """The NumPy engine never imports the Keras one (one direction of dependency)."""
    import ast
    import pathlib

    root = pathlib.Path(importlib.import_module("cnnbook").__file__).parent
    numpy_side = [
        root / "conv.py",
        root / "pool.py",
        root / "regularization.py",
        *root.glob("nn/*.py"),
    ]
    for path in numpy_side:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.startswith(("keras", "cnnbook.keras")) for n in names), (path, names)
