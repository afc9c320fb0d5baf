"""The landing page's figure, copied from a stored output of chapter 4.

``python tools/landing_figure.py`` writes the two PNG images of chapter 4's cell that
passes a CIFAR-10 test image through the trained network's first layer (the image, then
its 32 feature maps) to ``book/_static/``, byte for byte. Run it after chapter 4 has
been re-executed; the browser test checks that the copies still match.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "04-convolutional-layers.ipynb"
#: The cell is the one whose source contains this line.
MARKER = "first_layer(image)"
#: Where each of the cell's images goes, in the order the cell draws them.
TARGETS = [
    ROOT / "book" / "_static" / "first-layer-input.png",
    ROOT / "book" / "_static" / "first-layer-maps.png",
]


def stored_images(chapter=CHAPTER, marker=MARKER):
    """The PNG images (bytes) that the marked code cell of the chapter stores."""
    cells = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "code" and marker in "".join(cell["source"]):
            return [
                base64.b64decode(output["data"]["image/png"])
                for output in cell.get("outputs", [])
                if "image/png" in output.get("data", {})
            ]
    raise LookupError(f"no code cell of {chapter.name} contains {marker!r}")


def main():
    images = stored_images()
    if len(images) != len(TARGETS):
        raise SystemExit(f"expected {len(TARGETS)} images in the cell, found {len(images)}")
    for image, target in zip(images, TARGETS, strict=True):
        target.write_bytes(image)
        print(f"wrote {target.relative_to(ROOT)} ({len(image) / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
