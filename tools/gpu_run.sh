#!/usr/bin/env bash
# Run the whole book on the lent GPU machine, from the bundle that `make gpu-bundle` made.
#
#   tools/gpu_run.sh [--half 1|2|all] [--deadline SECONDS] [--stop-after SECONDS]
#                    [--benchmark-runs N] [--notebooks book/05-pooling.ipynb ...]
#
# That machine has Python 3.12 with JAX on CUDA but no Keras, Jupyter or internet (its
# python3 is itself a virtual environment, so a new one could not see its packages). This
# installs the bundle's wheels offline (pip --no-index --no-deps) into a folder of their
# own, put first on PYTHONPATH, unpacks the bundle's CIFAR-10 copy, and runs
# tools/gpu_book.py: every notebook (or one half of the book) in full mode under nbval on
# Keras's JAX backend, each training chapter checking its accuracy band, then the fast
# recipe's record benchmark with the time left. Nothing else on the machine is used.
#
# Environment: PYTHON (default python3), BUNDLE (default gpu-bundle), OUT (default
# _build/gpu-run; the device tool sets it), CNNBOOK_GPU_SITE (default /tmp/cnnbook-gpu),
# CNNBOOK_GPU_DATA (default /tmp/cnnbook-gpu-data).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUNDLE=${BUNDLE:-gpu-bundle}
OUT=${OUT:-_build/gpu-run}
SITE=${CNNBOOK_GPU_SITE:-/tmp/cnnbook-gpu}
DATA=${CNNBOOK_GPU_DATA:-/tmp/cnnbook-gpu-data}

if [ ! -f "$BUNDLE/requirements.txt" ]; then
  echo "no bundle at $BUNDLE: run 'make gpu-bundle' first (on a machine with internet)" >&2
  exit 2
fi
mkdir -p "$OUT"
started=$(date +%s)

"$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
  --disable-pip-version-check --upgrade --target "$SITE" "$BUNDLE"/wheels/*.whl
export PYTHONPATH="$SITE" KERAS_BACKEND=jax
installed=$("$PYTHON" -c 'import ipykernel, jax, keras, nbval
print("Keras", keras.__version__, "on JAX", jax.__version__, jax.devices()[0].platform)')
echo "installed the bundle in $(( $(date +%s) - started )) s: $installed"

archive=$(ls "$BUNDLE"/data/cifar10-*.tar.gz)
if [ ! -d "$DATA/train" ]; then
  mkdir -p "$DATA"
  tar -xzf "$archive" -C "$DATA"
fi

export CNNBOOK_DATA_DIR="$DATA" PYTHONUNBUFFERED=1
# One notebook at a time holds the GPU; leave memory to the next one's process.
export XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=3
exec "$PYTHON" tools/gpu_book.py --out "$OUT" "$@"
