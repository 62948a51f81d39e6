"""Sentence retrieval without training: Tatoeba (nearest neighbour) and BUCC 2018 (bitext mining).

XTREME evaluates these two tasks on the encoder itself (xtreme_reference.md §1, §4; XTREME
``third_party/run_retrieval.py``): sentences are embedded by mean-pooling (over non-padding
tokens, ``<s>`` and ``</s>`` included) the hidden states of layer 14 of XLM-R Large's 24, and
compared by cosine. No head is trained, so the encoder of an intermediate stage (or the
pretrained model for ``none``) is evaluated directly.

Examples (``sweeper.data.formats.retrieval``):

* Tatoeba: a list of aligned ``{"id", "source", "target"}`` pairs (``target`` is English).
  Predictions: for each *English* sentence, the index of the retrieved non-English sentence, as
  XTREME's ``run_retrieval.py`` and jiant's ``TatoebaEvaluationScheme`` do
  (``similarity_search(x=other, y=english)``: the index holds the non-English side and the
  English sentences are the queries); gold is ``range(n)``. Scored by accuracy.
* BUCC: a :class:`~sweeper.data.formats.retrieval.BuccCorpus`. :meth:`Retrieval.predict` mines
  every one-to-one candidate pair with its ratio-margin score; :meth:`Retrieval.evaluate_bitext`
  tunes the score threshold on the dev corpus (F1-optimal) and applies it to the evaluated
  split, exactly as XTREME ``evaluate_retrieval.py`` (``bucc_optimize`` then ``bucc_extract``).
  Scored by precision/recall/F1 of the kept pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, DataCollatorWithPadding

from sweeper.config import TrainingConfig
from sweeper.data.formats.retrieval import BuccCorpus
from sweeper.errors import ConfigError, DataFormatError
from sweeper.metrics.classification import accuracy
from sweeper.metrics.retrieval import (
    apply_threshold,
    best_threshold,
    bucc_f1,
    mean_pool,
    mine_pairs,
    tatoeba_accuracy,
)
from sweeper.prediction_files import PREDICTION_SUFFIXES
from sweeper.progress.bars import Progress
from sweeper.registry import TaskSpec
from sweeper.task_types.base import Evaluation, ModelOutputs, TaskType, register
from sweeper.task_types.submission_files import FileIssues, read_text_lines

#: XTREME pools layer 14 (``--specific_layer 14``) of XLM-R Large's 24 (``scripts/run_tatoeba.sh``,
#: ``run_bucc2018.sh``); other depths use the same relative depth.
XTREME_LAYER, XTREME_DEPTH = 14, 24

BitextPair = tuple[str, str]
ScoredBitextPair = tuple[str, str, float]


def retrieval_layer(spec: TaskSpec, num_layers: int) -> int:
    """The index into ``hidden_states`` that is pooled (0 = embedding output, ``num_layers`` = last).

    Default: ``round(14 / 24 * num_layers)`` (halves rounded up), i.e. 14 for XLM-R Large,
    7 for a 12-layer encoder; the task file's ``retrieval_layer`` overrides it.

    Raises:
        ConfigError: ``retrieval_layer`` is deeper than the model (names the task and depth).
    """
    if spec.retrieval_layer is None:
        return math.floor(XTREME_LAYER * num_layers / XTREME_DEPTH + 0.5)
    if spec.retrieval_layer > num_layers:
        raise ConfigError(
            f"task {spec.task!r}: retrieval_layer {spec.retrieval_layer} exceeds the model's "
            f"{num_layers} layers; use 0 (embeddings) to {num_layers}, or leave it unset for "
            f"layer {XTREME_LAYER}/{XTREME_DEPTH} scaled to the depth"
        )
    return spec.retrieval_layer


@torch.no_grad()
def embed_sentences(model, tokenizer, sentences: list[str], layer: int, max_seq_length: int, batch_size: int) -> np.ndarray:
    """Mean-pooled hidden states of ``layer`` for each sentence, batched with dynamic padding.

    Sentences are sorted by length so that batches carry little padding; padding is masked out
    of both attention and pooling, so the result does not depend on ``batch_size`` (beyond
    floating-point noise). A progress bar (:class:`sweeper.progress.bars.Progress`) appears
    when embedding takes longer than its interval (e.g. a full BUCC corpus).

    Args:
        model: a ``transformers`` encoder (``AutoModel``) that returns ``hidden_states``.
        sentences: n texts, each cut to ``max_seq_length`` tokens (special tokens included).
        layer: index into ``hidden_states`` (see :func:`retrieval_layer`).

    Returns:
        float32 array of shape (n, hidden_size), rows in the order of ``sentences``.

    Raises:
        ValueError: ``sentences`` is empty.
    """
    if not sentences:
        raise ValueError("got no sentences to embed")
    model.eval()
    device = next(model.parameters()).device
    input_ids = tokenizer(sentences, truncation=True, max_length=max_seq_length)["input_ids"]
    order = sorted(range(len(sentences)), key=lambda index: -len(input_ids[index]))
    collator = DataCollatorWithPadding(tokenizer)
    embeddings = np.empty((len(sentences), model.config.hidden_size), dtype=np.float32)
    with Progress("embedding", len(sentences), "sentence") as progress:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = {key: value.to(device) for key, value in collator([{"input_ids": input_ids[row]} for row in rows]).items()}
            hidden = model(**batch, output_hidden_states=True).hidden_states[layer].float()
            pooled = mean_pool(hidden, batch["attention_mask"].to(hidden.dtype))
            embeddings[rows] = pooled.cpu().numpy()
            progress.advance(len(rows))
    return embeddings


@dataclass(frozen=True)
class BitextEvaluation:
    """BUCC on one language: the dev split that tunes the threshold and the evaluated split.

    Attributes:
        threshold: the ratio-margin score threshold, F1-optimal on dev.
        dev: dev metrics and the dev pairs kept by the threshold.
        evaluated: the same for the evaluated split (e.g. test).
    """

    threshold: float
    dev: Evaluation
    evaluated: Evaluation


@register
class Retrieval(TaskType):
    """Evaluation-only retrieval on the encoder's pooled hidden states (see module docstring)."""

    name = "retrieval"
    prediction_suffix = PREDICTION_SUFFIXES["retrieval"]
    trainable = False

    def auto_model_class(self) -> type:
        return AutoModel

    def model_kwargs(self, spec: TaskSpec) -> dict:
        """No head: the bare encoder is loaded."""
        return {}

    def train_features(self, examples, tokenizer, spec, settings) -> list[dict]:
        raise ConfigError(
            f"task {spec.task!r} is a retrieval task: it has no training data and is evaluated on the "
            "encoder directly; list it only in target_tasks"
        )

    def collator(self, tokenizer):
        return DataCollatorWithPadding(tokenizer)

    def _embed(self, model, tokenizer, sentences: list[str], spec: TaskSpec, settings: TrainingConfig) -> np.ndarray:
        layer = retrieval_layer(spec, model.config.num_hidden_layers)
        return embed_sentences(model, tokenizer, sentences, layer, settings.max_seq_length, settings.per_device_eval_batch_size)

    def infer(self, model, tokenizer, examples, spec, settings, language, features=None) -> ModelOutputs:
        """The sentence embeddings of both sides (``outputs["source"]``: the non-English side,
        ``outputs["target"]``: English; each ``(num_sentences, hidden_size)``). ``features`` is not
        used: sentences are embedded one side at a time."""
        if isinstance(examples, BuccCorpus):
            sides = (list(examples.source.values()), list(examples.target.values()))
        else:
            sides = ([example["source"] for example in examples], [example["target"] for example in examples])
        source, target = (self._embed(model, tokenizer, sentences, spec, settings) for sentences in sides)
        return ModelOutputs(features={}, outputs={"source": source, "target": target})

    def decode(self, outputs, examples, spec, settings, language) -> list[int] | list[ScoredBitextPair]:
        """Tatoeba: per English sentence the index of the retrieved non-English one.
        BUCC (``examples`` a :class:`BuccCorpus`): every mined one-to-one pair
        ``(source_id, english_id, margin)``, by decreasing margin, no threshold applied."""
        source, target = outputs.outputs["source"], outputs.outputs["target"]
        if isinstance(examples, BuccCorpus):
            source_ids, target_ids = list(examples.source), list(examples.target)
            return [(source_ids[pair.source], target_ids[pair.target], pair.score) for pair in mine_pairs(source, target)]
        return tatoeba_accuracy(target, source).predictions.tolist()

    def score(self, predictions, examples, spec, language) -> dict[str, float]:
        """Tatoeba: ``accuracy``; BUCC: ``precision``, ``recall``, ``f1`` of the predicted pairs
        (scores, if present, are ignored: threshold first). All in [0, 100].

        Raises:
            ValueError: Tatoeba predictions are not one per example; the BUCC corpus has no gold.
        """
        if isinstance(examples, BuccCorpus):
            return bucc_f1(((pair[0], pair[1]) for pair in predictions), examples.gold)
        if len(predictions) != len(examples):
            raise ValueError(
                f"{spec.task}/{language}: {len(predictions)} predictions for {len(examples)} sentence pairs; "
                "expected one retrieved index per English sentence"
            )
        gold = [example.get("gold_index", index) for index, example in enumerate(examples)]
        return {"accuracy": accuracy(gold, [int(index) for index in predictions])}

    def evaluate_bitext(
        self,
        model,
        tokenizer,
        dev: BuccCorpus,
        evaluated: BuccCorpus,
        spec: TaskSpec,
        settings: TrainingConfig,
        language: str,
    ) -> BitextEvaluation:
        """BUCC as XTREME scores it: mine both splits, tune the threshold on ``dev``, apply it to both.

        Raises:
            ValueError: a corpus has no gold pairs.
        """
        dev_candidates = self.predict(model, tokenizer, dev, spec, settings, language)
        threshold = best_threshold(dev_candidates, dev.gold)
        dev_pairs = sorted(apply_threshold(dev_candidates, threshold))
        kept = sorted(apply_threshold(self.predict(model, tokenizer, evaluated, spec, settings, language), threshold))
        return BitextEvaluation(
            threshold=threshold,
            dev=Evaluation(self.score(dev_pairs, dev, spec, language), dev_pairs),
            evaluated=Evaluation(self.score(kept, evaluated, spec, language), kept),
        )

    def write_predictions(self, predictions, path: Path) -> None:
        """Tatoeba: one retrieved index per line; BUCC: ``source_id<TAB>english_id`` per kept pair."""
        lines = ["\t".join(str(part) for part in item[:2]) if isinstance(item, tuple) else str(item) for item in predictions]
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")

    def read_leaderboard_gold(self, path: Path) -> list[dict] | BuccCorpus:
        """Tatoeba: the gold index per line, examples ``{"id", "gold_index"}`` (the leaderboard's
        English side is shuffled, so gold is not the line number); BUCC: ``source_id<TAB>english_id``
        per gold pair, a :class:`BuccCorpus` with only ``gold`` (``evaluate.py`` ``read_label``)."""
        predictions = self.read_predictions(path)
        if predictions and isinstance(predictions[0], tuple):
            return BuccCorpus(source={}, target={}, gold=set(predictions))
        return [{"id": str(index), "gold_index": gold} for index, gold in enumerate(predictions)]

    def read_predictions(self, path: Path, issues: FileIssues | None = None) -> list[int] | list[BitextPair]:
        """A file of :meth:`write_predictions` (or an XTREME submission): one integer per line
        (Tatoeba) or two tab-separated ids per line (BUCC); lines stripped, blank lines skipped."""
        lines = enumerate(read_text_lines(path, issues), start=1)
        rows = [(number, line.split("\t")) for number, line in lines if line]
        widths = {len(fields) for _, fields in rows}
        if widths - {1, 2} or len(widths) > 1:
            number = next(number for number, fields in rows if len(fields) != len(rows[0][1]) or len(fields) > 2)
            raise DataFormatError(
                path,
                number,
                "expected one retrieved index per line (Tatoeba) or source_id<TAB>english_id (BUCC), the same on every line",
            )
        if widths == {2}:
            return [(fields[0].strip(), fields[1].strip()) for _, fields in rows]
        predictions = []
        for number, (field,) in rows:
            if not field.strip().isdigit():
                raise DataFormatError(path, number, f"expected a sentence index (non-negative integer), got {field!r}")
            predictions.append(int(field))
        return predictions
