set -u
BUNDLE=.gpu
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $BUNDLE/whl/*.whl || exit 3
export PYTHONPATH="/tmp/site:$PWD/$BUNDLE/site:$PWD/$BUNDLE" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export SWEEPER_DATA_DIR=$PWD/$BUNDLE/data BENCH_TOKENIZER_DIR=$PWD/$BUNDLE/tok BENCH_JSON_OUT=$OUT/results.jsonl SWEEPER_CACHE_DIR=/tmp/sc
cd $BUNDLE
timeout 60 python3 bench/probe.py --model xlmr-large --max-seq-length 256 > $OUT/run.log 2>&1
timeout 100 python3 bench/trainer.py --model xlmr-large --only sweeper --steps 80 --warmup 15 --train-examples 4000 >> $OUT/run.log 2>&1
timeout 100 python3 bench/trainer.py --model xlmr-large --only sweeper --steps 80 --warmup 15 --train-examples 8000 >> $OUT/run.log 2>&1
grep -E "^(probe|sweeper|BENCH)" $OUT/run.log
