"""What the deprecated module paths of cnnbook share: import the new home, warn, re-export."""

import importlib
import warnings


def moved(old, new, also=()):
    """The public names of module ``new`` (and the ``"module:name"`` entries of ``also``),
    for the deprecated module ``old`` to take over; warns that ``old`` moved to ``new``."""
    module = importlib.import_module(new)
    names = {"__all__": list(module.__all__)}
    names.update((name, getattr(module, name)) for name in module.__all__)
    for entry in also:
        home, name = entry.split(":")
        names[name] = getattr(importlib.import_module(home), name)
    warnings.warn(
        f"{old} moved to {new}; import it from there ({old} will be removed in cnnbook 1.0)",
        DeprecationWarning,
        stacklevel=4,
    )
    return names
