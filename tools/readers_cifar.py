"""A CIFAR-10 copy like the one readers get: the official binary format, other pixels.

    python tools/readers_cifar.py OUT          # from the copy load_cifar10 finds
    python tools/readers_cifar.py OUT --source ../shared/data/cifar10

Readers with internet get the official archive (binary batch files), not the JPEG copy
that CI reads. The official files cannot be downloaded here, so this builds a stand-in
for them from any copy `cnnbook.datasets.load_cifar10` reads: the same images with small
pixel noise (each pixel moved by a few levels, as the JPEG copy differs from the
official files) and in another order (the official batches are not sorted by class),
written as `OUT/cifar-10-batches-bin/` (`data_batch_1.bin` ... `data_batch_5.bin`,
`test_batch.bin`, `batches.meta.txt`). A chapter that passes nbval on it (`make
test-colab` runs Colab's stack on it, as a Colab reader downloads the official files)
prints nothing that depends on the exact pixels or order of the book's copy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnbook.datasets import (  # noqa: E402  (the checkout's package, not an installed one)
    BINARY_FOLDER,
    CIFAR10_CLASSES,
    TEST_FILE,
    TRAIN_FILES,
    load_cifar10,
)

#: Standard deviation of the pixel noise, in levels of 0 to 255. The JPEG copy (quality 75)
#: differs from the official pixels by about this much; 0 would only reorder the images.
NOISE_LEVELS = 3.0


def perturb(images, labels, rng, noise=NOISE_LEVELS):
    """The images with Gaussian pixel noise (rounded, clipped to 0-255), in a random order."""
    if noise < 0:
        raise ValueError(f"noise must be at least 0 levels, got {noise}")
    order = rng.permutation(len(images))
    moved = images[order].astype(np.float32) + rng.normal(0, noise, images.shape)
    return np.clip(np.rint(moved), 0, 255).astype(np.uint8), labels[order]


def records(images, labels):
    """CIFAR-10's binary records: one label byte, then the red, green and blue planes."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes()


def write(out, train, test, provenance):
    folder = Path(out) / BINARY_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (images, labels), (test_images, test_labels) = train, test
    for name, part in zip(TRAIN_FILES, np.array_split(np.arange(len(images)), len(TRAIN_FILES))):
        (folder / name).write_bytes(records(images[part], labels[part]))
    (folder / TEST_FILE).write_bytes(records(test_images, test_labels))
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n")
    (folder / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1) + "\n")
    return folder


def build(out, source=None, noise=NOISE_LEVELS, seed=0):
    """Write the readers' copy into ``out``; return its folder of batch files."""
    rng = np.random.default_rng(seed)
    (x_train, y_train), (x_test, y_test) = load_cifar10(source, download=False)
    train = perturb(x_train, y_train, rng, noise)
    test = perturb(x_test, y_test, rng, noise)
    provenance = {
        "built_by": "tools/readers_cifar.py",
        "from": str(source) if source else "the copy load_cifar10 finds",
        "noise_levels": noise,
        "seed": seed,
        "train_images": len(train[0]),
        "test_images": len(test[0]),
    }
    return write(out, train, test, provenance)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write cifar-10-batches-bin/ into")
    parser.add_argument("--source", help="a CIFAR-10 copy (default: what load_cifar10 finds)")
    parser.add_argument("--noise", type=float, default=NOISE_LEVELS, help="pixel noise, levels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    folder = build(args.out, args.source, args.noise, args.seed)
    print(f"readers' CIFAR-10 copy (binary files, noise {args.noise} levels) in {folder}")


if __name__ == "__main__":
    main()
