#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool): environment, the CUDA tests, GPU speed and memory, GPU batch
# throughput, then the whole suite. Each step has its own time limit and log under $OUT; the last lines are a summary.
# Usage (repo root, on the device): bash bench/gpu_check.sh   [.whl/ carried: wheels installed first, see below]
# The wheels, made once on the developer machine (the device has no registry; .whl/ is in .git/info/exclude):
#   for p in typer==0.29.2 pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
#            typing_extensions==4.16.0; do pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
#            --implementation cp --platform manylinux_2_17_x86_64 -d .whl "$p"; done
# then the device tool's run with carry [".whl"] and a timeout of ~540 s (it ran in 89-184 s on an H200 before the
# pipeline_designs part was added to bench/batch.py, which adds ~100 s).
set -u
OUT=${OUT:-/tmp/iqa-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
SUMMARY=()
step() {  # step NAME LIMIT_S CMD...: run with a time limit, log to $OUT/NAME.log, show its tail
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    echo "== $name (limit ${limit}s)"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    tail -n 12 "$OUT/$name.log"
    SUMMARY+=("$name rc=$rc $((SECONDS - t0))s")
}
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv | tee "$OUT/env.txt"
# the image's packages are used as they are, except those carried in .whl/: typer 0.29.2 (the image's is older than
# pyproject's typer>=0.26) and what it needs (pydantic, pydantic-core, annotated-types, typing-inspection,
# typing-extensions), installed into the image's Python so that the tests' subprocesses see them too
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade .whl/*.whl
fi
export PYTHONPATH=$PWD
python3 -c "import sys, torch, typer, cv2, numpy; print(sys.version.split()[0], 'torch', torch.__version__, \
'typer', typer.__version__, 'cv2', cv2.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available(), \
'cpus', __import__('os').cpu_count())" | tee -a "$OUT/env.txt"
step tests_cuda 150 python3 -m pytest -q -p no:cacheprovider -m cuda -rs
step cli_score 60 bash -c 'for d in cpu cuda; do echo "--device $d"; time python3 -m iqa_cli score \
    examples/ref/parrots.png examples/dist/parrots_jpeg.png --device "$d"; done'
step speed 70 python3 bench/speed.py --device cuda --repeats 50 --out "$OUT/speed.json"
step batch 330 python3 bench/batch.py --skip-local --pairs 2000 --gpu-workers 4,16 --keep /tmp/iqa-gpu-pairs
tail -n 200 "$OUT/batch.log" | sed -n '/^{/,$p' >"$OUT/batch.json"
step suite 110 python3 -m pytest -q -p no:cacheprovider -n 8 -m "not cuda"
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
