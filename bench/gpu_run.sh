#!/usr/bin/env bash
# The GPU benchmarks in one run (≤ 7 minutes on one H200): memory probe, trainer, evaluation, packing.
#
# Runs from a self-contained folder (the "bundle": sweeper/, bench/, tasks/, data/xtreme/panx/, tok/
# with the XLM-R tokenizer, whl/ with wheels the machine lacks);
# bench/make_gpu_bundle.sh builds it. Results: one JSON line per benchmark in $OUT/results.jsonl,
# the printed figures in $OUT/run.log.
#
#   bash <bundle>/bench/gpu_run.sh                 # on the GPU machine, OUT set
#   MODEL=tiny OUT=/tmp/out bash <bundle>/bench/gpu_run.sh   # the same steps on the CPU with the tiny model
set -u
BUNDLE="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="${MODEL:-xlmr-large}"
OUT="${OUT:?OUT must name the output folder}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if ls "$BUNDLE"/whl/*.whl >/dev/null 2>&1 && [ "${SKIP_WHEELS:-0}" != 1 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$BUNDLE"/whl/*.whl || exit 3
  export PYTHONPATH="/tmp/site:$BUNDLE${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$BUNDLE${PYTHONPATH:+:$PYTHONPATH}"
fi
export SWEEPER_DATA_DIR="$BUNDLE/data" BENCH_TOKENIZER_DIR="$BUNDLE/tok" BENCH_JSON_OUT="$OUT/results.jsonl"
export SWEEPER_CACHE_DIR="${SWEEPER_CACHE_DIR:-/tmp/sweeper-cache}"
cd "$BUNDLE"
LOG="$OUT/run.log"
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || echo "no nvidia-smi"
  nproc; python3 -c "import torch, transformers, pydantic; print('torch', torch.__version__, 'transformers', transformers.__version__, 'pydantic', pydantic.__version__)"
} >>"$LOG" 2>&1
if [ "$MODEL" = tiny ]; then
  SMALL="--steps 4 --warmup 2 --train-examples 400"; EVAL="--languages de fr --examples 200 --batch 64"
  PACK="--counts 1 2 --steps 3 --warmup 1 --train-examples 300"
else
  SMALL="--steps 150 --warmup 20 --train-examples 8000"; EVAL="--languages ar de es fr hi ja ru zh --examples 5000 --batch 256"
  PACK="--counts 1 2 4 8 --steps 80 --warmup 15 --train-examples 4000"
fi
step() {  # step NAME TIMEOUT_S COMMAND...: run one benchmark, its output appended to the log
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(date -u +%T))" >>"$LOG"
  timeout "$limit" "$@" >>"$LOG" 2>&1; local rc=$?
  echo "=== $name exit $rc ($(date -u +%T))" >>"$LOG"
}
step probe 90 python3 bench/probe.py --model "$MODEL" --max-seq-length 256
step trainer 150 python3 bench/trainer.py --model "$MODEL" $SMALL
step evaluation 120 python3 bench/evaluation.py --model "$MODEL" $EVAL
step packing 240 python3 bench/packing.py --model "$MODEL" $PACK
grep -E "^(===|BENCH_JSON|probe|sweeper|bare|[0-9]+ (trial|sentences)|speed|best|no GPU)" "$LOG" | tail -60
