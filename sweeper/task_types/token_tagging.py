"""Token tagging with first-subword labels: UD-POS, PAN-X NER, CCG supertagging."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np
from transformers import (
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
)

from sweeper.data.features.tagging import (
    align_tagging_labels,
    predictions_to_word_labels,
)
from sweeper.metrics.tagging import seqeval_scores, token_accuracy
from sweeper.prediction_files import PREDICTION_SUFFIXES
from sweeper.task_types.base import (
    InputsOnly,
    TaskType,
    classifier_kwargs,
    encode_in_chunks,
    feature_rows,
    label_maps,
    register,
    with_placeholder_gold,
)
from sweeper.task_types.submission_files import (
    FileIssues,
    check_labels,
    read_tag_sentences,
)

logger = logging.getLogger(__name__)


def window_overlap(tokenizer, settings) -> int:
    """Pieces shared by consecutive prediction windows of a long sentence: ``doc_stride`` (as QA
    uses it), at most half the pieces of a window so that each window advances."""
    room = settings.max_seq_length - tokenizer.num_special_tokens_to_add(pair=False)
    return max(0, min(settings.doc_stride, room // 2))


@register
class TokenTagging(TaskType):
    """A per-token head; only each word's first subword is trained and predicted.

    Scored with seqeval precision/recall/F1 (xtreme ``evaluate.py`` uses seqeval for both PAN-X
    and UD-POS) plus word-level accuracy, all 0–100 (run_ner.py ``label_all_tokens=False``).
    """

    name = "token_tagging"
    prediction_suffix = PREDICTION_SUFFIXES["token_tagging"]
    per_token_outputs = True

    def auto_model_class(self) -> type:
        return AutoModelForTokenClassification

    def model_kwargs(self, spec) -> dict:
        return classifier_kwargs(spec)

    def train_features(self, examples, tokenizer, spec, settings) -> list[dict]:
        label_to_id, _ = label_maps(spec)
        encode = partial(
            align_tagging_labels, tokenizer=tokenizer, label_to_id=label_to_id, max_seq_length=settings.max_seq_length
        )
        return feature_rows(encode_in_chunks(encode, examples, spec.task))

    def collator(self, tokenizer):
        return InputsOnly(DataCollatorForTokenClassification(tokenizer), tokenizer)

    def prediction_features(self, examples, tokenizer, spec, settings, language) -> dict[str, list]:
        """Windows of each sentence (:func:`window_overlap` pieces shared) with their ``word_ids``."""
        label_to_id, id_to_label = label_maps(spec)
        examples = with_placeholder_gold(examples, "tags", lambda example: [id_to_label[0]] * len(example["tokens"]))
        encode = partial(
            align_tagging_labels,
            tokenizer=tokenizer,
            label_to_id=label_to_id,
            max_seq_length=settings.max_seq_length,
            doc_stride=window_overlap(tokenizer, settings),
        )
        return encode_in_chunks(encode, examples, f"{spec.task}/{language}")

    def decode(self, outputs, examples, spec, settings, language) -> list[list[str]]:
        """One label per word of every sentence; sentences without gold tags (``None``, XTREME test
        files) are predicted too.

        A sentence longer than ``max_seq_length`` tokens is cut into overlapping windows sharing
        :func:`window_overlap` pieces; each word is predicted from the window where it has the
        most context (:mod:`sweeper.data.features.tagging`). The log says how many sentences
        needed more than one window.
        """
        _, id_to_label = label_maps(spec)
        columns = outputs.features
        logits = outputs.outputs["logits"]
        words = predictions_to_word_labels(columns, [np.argmax(row, axis=-1) for row in logits], id_to_label)
        if words.num_windowed_sentences:
            logger.warning(
                "%s/%s: %d of %d sentence(s) longer than max_seq_length=%d were predicted in overlapping windows",
                spec.task,
                language,
                words.num_windowed_sentences,
                len(examples),
                settings.max_seq_length,
            )
        if words.num_empty_words:
            logger.warning(
                "%s/%s: %d word(s) without any piece (characters the tokenizer deletes) were labelled O",
                spec.task,
                language,
                words.num_empty_words,
            )
        return words.labels

    def score(self, predictions, examples, spec, language) -> dict[str, float]:
        gold = [example["tags"] for example in examples]
        metrics = seqeval_scores(gold, predictions)
        metrics["accuracy"] = token_accuracy(gold, predictions)
        return metrics

    def write_predictions(self, predictions, path: Path) -> None:
        sentences = ["".join(f"{label}\n" for label in labels) for labels in predictions]
        path.write_text("\n".join(sentences), encoding="utf-8")

    def read_predictions(self, path: Path, issues: FileIssues | None = None) -> list[list[str]]:
        """One label per line, a blank line between sentences (XTREME's tagging submission layout),
        read as ``evaluate.py`` ``read_tag`` does: lines stripped, the whole line is the label."""
        return read_tag_sentences(path, issues)

    def check_predictions(self, predictions, examples, spec, issues: FileIssues) -> None:
        """Tags that are not tags of the task: a ``token<TAB>TAG`` line, or an unknown tag."""
        check_labels((tag for sentence in predictions for tag in sentence), spec.labels, issues)

    def read_leaderboard_gold(self, path: Path) -> list[dict]:
        """Gold tags, one per line, sentences separated by blank lines (``evaluate.py`` ``read_tag``):
        examples ``{"id", "tokens": None, "tags"}`` (the leaderboard's label files hold no tokens)."""
        return [{"id": str(index), "tokens": None, "tags": tags} for index, tags in enumerate(read_tag_sentences(path))]
