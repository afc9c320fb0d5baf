"""Budgets and the quiet TensorFlow import."""

import subprocess
import sys

import pytest

import cnnbook


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_smoke_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("CNNBOOK_SMOKE", value)
    assert cnnbook.smoke_mode() is expected
    assert cnnbook.budget(full=25, smoke=1) == (1 if expected else 25)


def test_full_mode_is_the_default(monkeypatch):
    monkeypatch.delenv("CNNBOOK_SMOKE", raising=False)
    assert cnnbook.budget(full=25, smoke=1) == 25


def test_unknown_smoke_value_is_an_error(monkeypatch):
    monkeypatch.setenv("CNNBOOK_SMOKE", "maybe")
    with pytest.raises(ValueError, match="Received: CNNBOOK_SMOKE='maybe'"):
        cnnbook.budget(full=25, smoke=1)


def test_import_tensorflow_writes_nothing_to_stderr():
    code = "import cnnbook; tf = cnnbook.import_tensorflow(); print(tf.constant(2).numpy())"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == "2\n"
    assert result.stderr == ""
