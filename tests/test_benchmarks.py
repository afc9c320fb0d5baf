"""The benchmarks' own parts that can be checked in seconds (their runs take minutes)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_precision  # noqa: E402

import cnnbook  # noqa: E402

keras = cnnbook.import_keras()


@pytest.mark.parametrize("key", list(bench_precision.CHAPTERS))
def test_each_chapters_step_trains_its_network_on_a_batch(key):
    _, _, batch_size, build = bench_precision.CHAPTERS[key]
    assert batch_size in (64, 256, 512, 1024)
    keras.utils.set_random_seed(0)
    step = build(keras, 8 if key == "9d" else 4)
    model = getattr(step, "trainer", None) or step.func.__self__
    before = [np.array(keras.ops.convert_to_numpy(w)) for w in model.trainable_weights]
    step()  # 9b's warm-up starts at a learning rate of 0
    loss = np.ravel(step())[0]  # the loss, then the metrics if compiled with any
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert np.isfinite(loss)
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))


def test_chapters_are_chosen_by_key_or_by_chapter():
    assert bench_precision.chosen_chapters([]) == list(bench_precision.CHAPTERS)
    assert bench_precision.chosen_chapters(["10"]) == ["10-waves", "10-images"]
    assert bench_precision.chosen_chapters(["9d", "10-waves"]) == ["9d", "10-waves"]
    with pytest.raises(SystemExit, match=r"unknown chapters \['12'\]"):
        bench_precision.chosen_chapters(["12", "4"])
