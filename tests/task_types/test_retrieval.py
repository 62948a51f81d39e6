"""The retrieval task type (Tatoeba, BUCC) on real encoders: layer choice, batching, scoring, files."""

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from sweeper.config import TrainingConfig
from sweeper.data.formats.retrieval import BuccCorpus
from sweeper.data.sources import load_split
from sweeper.errors import ConfigError, DataFormatError
from sweeper.registry import TaskSpec, get_task
from sweeper.task_types import get_task_type
from sweeper.task_types.retrieval import embed_sentences, retrieval_layer

SETTINGS = TrainingConfig(max_seq_length=64, per_device_eval_batch_size=16)
RETRIEVAL = get_task_type("retrieval")


def _with(task: str, **fields) -> TaskSpec:
    return TaskSpec.model_validate({**get_task(task).model_dump(), **fields})


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return AutoModel.from_pretrained(tiny_dir), AutoTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def e5(e5_dir):
    return AutoModel.from_pretrained(e5_dir), AutoTokenizer.from_pretrained(e5_dir)


@pytest.mark.parametrize(("num_layers", "expected"), [(24, 14), (12, 7), (6, 4), (2, 1)])
def test_default_layer_is_14_of_24_scaled_to_the_depth(num_layers, expected):
    assert retrieval_layer(get_task("tatoeba"), num_layers) == expected


def test_layer_override_from_the_task_file_is_validated():
    assert retrieval_layer(_with("tatoeba", retrieval_layer=0), 12) == 0
    assert retrieval_layer(_with("bucc2018", retrieval_layer=12), 12) == 12
    with pytest.raises(ConfigError, match="retrieval_layer 13 exceeds the model's 12 layers"):
        retrieval_layer(_with("tatoeba", retrieval_layer=13), 12)
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        _with("tatoeba", retrieval_layer=-1)
    with pytest.raises(ValueError, match="`retrieval_layer` is for retrieval tasks"):
        _with("panx", retrieval_layer=3)


def test_only_retrieval_tasks_may_lack_train_and_dev():
    assert "train" not in get_task("tatoeba").splits and "train" not in get_task("bucc2018").splits
    panx = get_task("panx").model_dump()
    del panx["splits"]["train"]
    with pytest.raises(ValueError, match=r"splits must define \['train'\].*only task_type retrieval"):
        TaskSpec.model_validate(panx)


def test_tatoeba_files_use_the_iso_639_3_codes_declared_in_the_task_file(data_dir):
    examples = load_split(get_task("tatoeba"), "test", data_dir, "zh", 3)
    assert [example["id"] for example in examples] == ["0", "1", "2"]
    assert all(example["source"] and example["target"].isascii() for example in examples)


def test_embeddings_do_not_depend_on_the_batch_size(tiny):
    model, tokenizer = tiny
    sentences = ["Hallo.", "Wie geht es dir heute, mein Freund?", "x", "Ein etwas längerer Satz mit vielen Wörtern darin.", "Ja"]
    reference = embed_sentences(model, tokenizer, sentences, 1, 64, batch_size=1)
    assert reference.shape == (5, model.config.hidden_size) and reference.dtype == np.float32
    for batch_size in (2, 5):
        np.testing.assert_allclose(embed_sentences(model, tokenizer, sentences, 1, 64, batch_size), reference, atol=1e-5)
    alone = embed_sentences(model, tokenizer, sentences[1:2], 1, 64, batch_size=1)
    np.testing.assert_allclose(alone[0], reference[1], atol=1e-5)


def test_embedding_is_the_mean_of_the_chosen_layer(tiny):
    model, tokenizer = tiny
    embedding = embed_sentences(model, tokenizer, ["Guten Morgen"], 2, 64, 4)
    inputs = tokenizer(["Guten Morgen"], return_tensors="pt")
    with torch.no_grad():
        last = model(**inputs, output_hidden_states=True).hidden_states[2][0]
    np.testing.assert_allclose(embedding[0], last.mean(dim=0).numpy(), atol=1e-5)


def test_tatoeba_with_the_tiny_model_scores_and_round_trips(tiny, data_dir, tmp_path):
    model, tokenizer = tiny
    task = get_task("tatoeba")
    for language in ("de", "ja"):
        examples = load_split(task, "test", data_dir, language, 40)
        evaluation = RETRIEVAL.evaluate(model, tokenizer, examples, task, SETTINGS, language)
        assert len(evaluation.predictions) == 40 and all(0 <= index < 40 for index in evaluation.predictions)
        assert 0.0 <= evaluation.metrics["accuracy"] <= 100.0
        path = tmp_path / f"test-{language}.tsv"
        RETRIEVAL.write_predictions(evaluation.predictions, path)
        assert RETRIEVAL.read_predictions(path) == evaluation.predictions
        assert RETRIEVAL.score(RETRIEVAL.read_predictions(path), examples, task, language) == evaluation.metrics


@pytest.mark.parametrize("language", ["de", "fr"])
def test_a_real_multilingual_encoder_retrieves_far_above_chance(e5, data_dir, language):
    model, tokenizer = e5
    task = get_task("tatoeba")
    examples = load_split(task, "test", data_dir, language, 100)
    metrics = RETRIEVAL.evaluate(model, tokenizer, examples, task, SETTINGS, language).metrics
    assert metrics["accuracy"] > 60.0, f"chance is 1%; got {metrics}"  # measured: de 80+, fr 79 (layer 7 of 12)


def test_tatoeba_score_is_accuracy_of_english_queries_against_identity_gold():
    task = get_task("tatoeba")
    examples = [{"id": str(i), "source": f"s{i}", "target": f"t{i}"} for i in range(4)]
    assert RETRIEVAL.score([0, 1, 3, 2], examples, task, "de") == {"accuracy": 50.0}
    with pytest.raises(ValueError, match="3 predictions for 4 sentence pairs"):
        RETRIEVAL.score([0, 1, 2], examples, task, "de")


def test_bucc_score_and_prediction_files(tmp_path):
    corpus = BuccCorpus(
        source={"de-1": "a", "de-2": "b", "de-3": "c"},
        target={"en-1": "a", "en-2": "b", "en-3": "c"},
        gold={("de-1", "en-1"), ("de-2", "en-2")},
    )
    predictions = [("de-1", "en-1"), ("de-3", "en-2")]
    metrics = RETRIEVAL.score(predictions, corpus, get_task("bucc2018"), "de")
    assert metrics == {"precision": 50.0, "recall": 50.0, "f1": 50.0}
    path = tmp_path / "test-de.tsv"
    RETRIEVAL.write_predictions(predictions, path)
    assert path.read_text() == "de-1\ten-1\nde-3\ten-2\n"
    assert RETRIEVAL.read_predictions(path) == predictions
    limited = corpus.head(1)
    assert limited.gold == {("de-1", "en-1")} and list(limited.target) == ["en-1"]


def test_malformed_prediction_files_name_file_and_line(tmp_path):
    path = tmp_path / "test-de.tsv"
    path.write_text("0\n1\tx\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"test-de.tsv:2: expected one retrieved index"):
        RETRIEVAL.read_predictions(path)
    path.write_text("0\nseven\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"test-de.tsv:2: expected a sentence index"):
        RETRIEVAL.read_predictions(path)


def test_retrieval_tasks_cannot_be_trained():
    with pytest.raises(ConfigError, match="no training data"):
        RETRIEVAL.train_features([], None, get_task("tatoeba"), SETTINGS)
    assert RETRIEVAL.trainable is False and RETRIEVAL.auto_model_class() is AutoModel
