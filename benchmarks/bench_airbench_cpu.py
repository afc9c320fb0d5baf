"""cnnbook's fast recipe and airbench94's own code, side by side on this machine's CPU.

    python benchmarks/bench_airbench_cpu.py PATH/TO/legacy/airbench94.py [--epochs 1]
        [--torch-python .venv-torch/bin/python] [--precision mixed_bfloat16] [--json PATH]

airbench94 (Keller Jordan, github.com/KellerJordan/cifar10-airbench, the script
``legacy/airbench94.py``) is written for one CUDA GPU in float16. This benchmark runs that
file as it is, unchanged and not copied into the project, on the CPU in float32: in a
child Python with PyTorch (``--torch-python``; ``make`` builds ``.venv-torch``), with
these stand-ins, set before the file is loaded:

- ``.cuda()`` of tensors and modules returns them unchanged, ``.half()`` of a tensor
  gives float32 and of a module nothing, ``torch.cuda.synchronize`` does nothing, and
  ``torch.cuda.Event`` reads ``time.perf_counter`` (its ``elapsed_time`` gives the
  milliseconds between two ``record`` calls, as CUDA's does);
- ``torchvision``: the script uses only ``transforms.Normalize`` (and its dataset class
  to download CIFAR-10, which it skips when ``cifar10/train.pt`` exists): a module with
  that one class stands in for it, so that no CUDA build of torchvision is needed;
- the data: ``cifar10/train.pt`` and ``test.pt`` written from the copy that
  :func:`cnnbook.datasets.load_cifar10` finds (``CNNBOOK_DATA_DIR``), the same images
  cnnbook trains on.

Then it calls the script's ``main`` with ``train_epochs`` set to ``--epochs``. The seconds
of each epoch are those airbench measures (its events around each epoch's training loop);
its whitening and evaluation are not counted. cnnbook trains
:func:`cnnbook.keras.fast_training.train_fast` with the same recipe on the same
training images, in this process, and the seconds of each epoch are the differences of
its history's clock (the first also builds the model, whitens and compiles), in float32
or, with ``--precision mixed_bfloat16``, in bfloat16 as chapter 9d trains on a processor
where a step is faster so. Both use every core (PyTorch's and TensorFlow's default
thread counts).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import cpu_name  # noqa: E402

#: Run in the child Python: airbench94 on the CPU, as described above.
AIRBENCH_ON_CPU = r"""
import importlib.util, json, sys, time, types
import numpy as np
import torch
from torch import nn

script, data, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])

# torchvision: the one class the script uses.
class Normalize:
    def __init__(self, mean, std):
        self.mean = torch.as_tensor(mean).view(-1, 1, 1)
        self.std = torch.as_tensor(std).view(-1, 1, 1)
    def __call__(self, images):
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

torchvision = types.ModuleType("torchvision")
torchvision.transforms = types.ModuleType("torchvision.transforms")
torchvision.transforms.Normalize = Normalize
torchvision.datasets = types.ModuleType("torchvision.datasets")
sys.modules.update({"torchvision": torchvision, "torchvision.transforms": torchvision.transforms,
                    "torchvision.datasets": torchvision.datasets})

# CUDA and float16 -> the CPU and float32.
torch.Tensor.cuda = lambda self, *args, **kwargs: self
nn.Module.cuda = lambda self, *args, **kwargs: self
torch.Tensor.half = lambda self, *args, **kwargs: self.float()
nn.Module.half = lambda self: self
torch.cuda.synchronize = lambda *args, **kwargs: None
elapsed = []

class Event:
    def __init__(self, *args, **kwargs):
        self.time = None
    def record(self, *args):
        self.time = time.perf_counter()
    def elapsed_time(self, end):
        elapsed.append(end.time - self.time)
        return 1000 * elapsed[-1]

torch.cuda.Event = Event

# The data, where the script looks for it (cifar10/ in the working directory).
for split in ("train", "test"):
    arrays = np.load(f"{data}/{split}.npz")
    torch.save({"images": torch.from_numpy(arrays["images"]),
                "labels": torch.from_numpy(arrays["labels"]),
                "classes": [str(c) for c in range(10)]}, f"cifar10/{split}.pt")

spec = importlib.util.spec_from_file_location("airbench94", script)
airbench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(airbench)
defaults = list(airbench.CifarLoader.__init__.__defaults__)
defaults[-1] = "cpu"  # gpu=0 -> map_location "cpu"
airbench.CifarLoader.__init__.__defaults__ = tuple(defaults)
airbench.hyp["opt"]["train_epochs"] = epochs
accuracy = airbench.main(0)
# elapsed: the whitening, each epoch, then the test-time-augmented evaluation.
print(json.dumps({"epoch_seconds": elapsed[1:-1], "tta_accuracy": accuracy,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
"""


def airbench_epochs(script, torch_python, x_train, y_train, x_test, y_test, epochs):
    """Seconds of each of airbench94's epochs on the CPU, and its accuracy."""
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
            np.savez(Path(folder) / f"{split}.npz", images=images, labels=labels)
        (Path(folder) / "cifar10").mkdir()
        finished = subprocess.run(
            [str(torch_python), "-c", AIRBENCH_ON_CPU, str(script), folder, str(epochs)],
            cwd=folder,
            capture_output=True,
            text=True,
        )
    if finished.returncode != 0:
        raise SystemExit(
            f"airbench94 failed:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}"
        )
    print(finished.stdout.rsplit("\n", 2)[0])  # airbench's own table
    return json.loads(finished.stdout.strip().splitlines()[-1])


def cnnbook_epochs(x_train, y_train, epochs, precision="float32"):
    """Seconds of each epoch of cnnbook's recipe (in ``precision``, this process)."""
    from cnnbook.runtime import apply_policy

    apply_policy(precision)  # imports Keras
    from cnnbook.keras import fast_training as fast

    recipe = fast.FastRecipe(epochs=epochs)
    result = fast.train_fast(fast.normalize(x_train), y_train, recipe, seed=0)
    ends = [0.0] + [entry["seconds"] for entry in result.history]
    return [later - earlier for earlier, later in zip(ends, ends[1:])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("airbench", type=Path, help="path to airbench's legacy/airbench94.py")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--torch-python", type=Path, default=ROOT / ".venv-torch" / "bin" / "python"
    )
    parser.add_argument(
        "--precision",
        choices=["float32", "mixed_bfloat16"],
        default="float32",
        help="cnnbook's policy (airbench94 runs in float32): mixed_bfloat16 on a processor "
        "where chapter 9d chooses it",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    arguments = parser.parse_args()
    if not arguments.airbench.is_file():
        parser.error(f"no file {arguments.airbench}")
    if not arguments.torch_python.exists():
        parser.error(
            f"no Python at {arguments.torch_python}: give one with PyTorch "
            "(make test-precision builds .venv-torch)"
        )

    from cnnbook.datasets import cifar10_copy, load_cifar10

    (x_train, y_train), (x_test, y_test) = load_cifar10()
    print(f"CIFAR-10: {cifar10_copy()}; {cpu_name()}, {os.cpu_count()} cores")
    theirs = airbench_epochs(
        arguments.airbench,
        arguments.torch_python,
        x_train,
        y_train,
        x_test,
        y_test,
        arguments.epochs,
    )
    ours = cnnbook_epochs(x_train, y_train, arguments.epochs, arguments.precision)
    print(f"\ncnnbook in {arguments.precision}, airbench94 in float32")
    print(f"{'epoch':<8}{'airbench94 (PyTorch)':>22}{'cnnbook (Keras)':>18}{'ratio':>8}")
    for index, (a, c) in enumerate(zip(theirs["epoch_seconds"], ours), start=1):
        print(f"{index:<8}{a:>20.1f} s{c:>16.1f} s{c / a:>8.2f}")
    ratio = ours[-1] / theirs["epoch_seconds"][-1]
    print(f"cnnbook / airbench94, seconds per epoch (last epoch): {ratio:.2f}")
    if arguments.json:
        import keras

        arguments.json.write_text(
            json.dumps(
                {
                    "cpu": cpu_name(),
                    "cores": os.cpu_count(),
                    "data": cifar10_copy(),
                    "epochs": arguments.epochs,
                    "airbench94": theirs,
                    "cnnbook": {
                        "epoch_seconds": ours,
                        "keras": keras.__version__,
                        "backend": keras.backend.backend(),
                        "precision": arguments.precision,
                    },
                    "ratio_last_epoch": ratio,
                },
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
