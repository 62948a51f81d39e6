"""Examples → model features for the four trainable task types, one module per kind of task.

Every featurizer takes a list of example dicts in the schema the readers produce and a
``transformers`` *fast* tokenizer, and returns a dict of lists (one entry per feature) that
``datasets.Dataset.from_dict`` or a torch collator can take. Nothing is padded here: the
collator pads each batch dynamically. All lengths are in tokens, special tokens included.

* :mod:`sweeper.data.features.qa`: QA windows, answer labels and context offsets.
* :mod:`sweeper.data.features.tagging`: first-subword tag labels, prediction windows, word labels.
* :mod:`sweeper.data.features.classification`: sentence (pair) classification, multiple choice.

The names below are re-exported so that ``from sweeper.data.features import ...`` keeps working.
"""

from sweeper.data.features._common import IGNORE_INDEX
from sweeper.data.features.classification import (
    encode_classification,
    encode_multiple_choice,
)
from sweeper.data.features.qa import (
    CLS_INDEX,
    prepare_qa_eval_features,
    prepare_qa_train_features,
)
from sweeper.data.features.tagging import (
    WordLabels,
    align_tagging_labels,
    predictions_to_word_labels,
)

__all__ = [
    "CLS_INDEX",
    "IGNORE_INDEX",
    "WordLabels",
    "align_tagging_labels",
    "encode_classification",
    "encode_multiple_choice",
    "predictions_to_word_labels",
    "prepare_qa_eval_features",
    "prepare_qa_train_features",
]
