"""How a notebook runs: its compute budget, and a quiet TensorFlow import.

Every notebook has two budgets. Full mode (the default) is what the rendered book
shows. Smoke mode, switched on with the environment variable ``CNNBOOK_SMOKE=1``,
shrinks data and epochs so that the test suite runs every notebook in minutes. A
notebook states both figures where it chooses one, for example
``epochs = cnnbook.budget(full=25, smoke=1)``, so the reader sees what is shrunk.
"""

from __future__ import annotations

import contextlib
import importlib
import os

__all__ = ["budget", "import_tensorflow", "smoke_mode"]

SMOKE_VARIABLE = "CNNBOOK_SMOKE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def smoke_mode():
    """Whether notebooks run on the small smoke-test budget.

    Returns
    -------
    bool
        True when the environment variable ``CNNBOOK_SMOKE`` is ``1`` (or ``true``,
        ``yes``, ``on``); False when it is unset, empty, ``0``, ``false``, ``no`` or
        ``off``.

    Raises
    ------
    ValueError
        For any other value, rather than guessing.

    Examples
    --------
    >>> import os
    >>> os.environ["CNNBOOK_SMOKE"] = "1"
    >>> smoke_mode()
    True
    >>> del os.environ["CNNBOOK_SMOKE"]
    >>> smoke_mode()
    False
    """
    value = os.environ.get(SMOKE_VARIABLE, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{SMOKE_VARIABLE} must be 1 or 0 (or true/false). Received: {SMOKE_VARIABLE}={value!r}"
    )


def budget(full, smoke):
    """Pick the full-mode value, or the smoke-mode one when ``CNNBOOK_SMOKE=1``.

    Parameters
    ----------
    full : object
        What the book uses: number of epochs, of images, ...
    smoke : object
        The smaller stand-in that keeps the test suite fast.

    Returns
    -------
    object
        ``smoke`` in smoke mode, ``full`` otherwise.

    Examples
    --------
    >>> import os
    >>> budget(full=25, smoke=1)
    25
    >>> os.environ["CNNBOOK_SMOKE"] = "1"
    >>> budget(full=25, smoke=1)
    1
    >>> del os.environ["CNNBOOK_SMOKE"]
    """
    return smoke if smoke_mode() else full


@contextlib.contextmanager
def _stderr_to_devnull():
    """Point file descriptor 2 at /dev/null, where C++ libraries write their logs."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow():
    """Import TensorFlow without its start-up log lines, and return the module.

    TensorFlow's C++ runtime writes lines such as "Could not find cuda drivers"
    straight to file descriptor 2 when it is imported, whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says. They would land in the notebook's stored output.
    This sets ``TF_CPP_MIN_LOG_LEVEL=3`` (unless already set), points descriptor 2
    at /dev/null for the import and the device discovery only, and restores it. Errors raised by the
    import itself still surface as Python exceptions.

    Returns
    -------
    module
        ``tensorflow``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_to_devnull():
        tensorflow = importlib.import_module("tensorflow")
        # Looking for devices initialises CUDA, which logs "failed call to cuInit" on a
        # machine with CUDA libraries but no GPU: let that happen here, silenced, rather
        # than at the first operation.
        tensorflow.config.list_physical_devices()
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow
