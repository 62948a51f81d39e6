"""Zero-shot evaluation with host work overlapped: each language's scores and prediction file are
those of predicting and scoring that language alone (TaskType.evaluate), on real XTREME data with
a real (tiny) model, whatever order the host thread finishes in."""

import pytest
from transformers import AutoTokenizer

from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.data.sources import load_split
from sweeper.registry import get_task
from sweeper.task_types import get_task_type
from sweeper.training.inputs import StageInputs
from sweeper.training.zero_shot import evaluate_zero_shot

SETTINGS = TrainingConfig(max_seq_length=96, doc_stride=32, max_query_length=32, per_device_eval_batch_size=4)
LIMIT = 10


@pytest.mark.parametrize(
    ("task_id", "languages", "dev_languages"),
    [("udpos", ["ar", "fr", "zh"], ["ar", "fr"]), ("tydiqa", ["fi", "ko", "sw"], ["fi"])],
)
def test_each_language_gets_the_scores_and_predictions_of_evaluating_it_alone(
    tiny_dir, data_dir, tmp_path, task_id, languages, dev_languages
):
    task = get_task(task_id)
    task_type = get_task_type(task.task_type)
    model = task_type.auto_model_class().from_pretrained(tiny_dir, **task_type.model_kwargs(task))
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    inputs = StageInputs(str(tiny_dir), None, task, SETTINGS, data_dir, tmp_path / "trial")

    result = evaluate_zero_shot(
        model, tokenizer, inputs, ZeroShotConfig(languages=languages, max_examples_per_language=LIMIT), dev_languages
    )

    split, dev_split = task.zero_shot.split, task.zero_shot.dev_split
    expected_files = {(split, language) for language in languages} | {(dev_split, language) for language in dev_languages}
    assert sorted(path.name for path in result.predictions_dir.iterdir()) == sorted(
        f"{name}-{language}.{task_type.prediction_suffix}" for name, language in expected_files
    )
    for scored, languages_of_split, name in (
        (result.per_language, languages, split),
        (result.dev_per_language, dev_languages, dev_split),
    ):
        assert list(scored) == languages_of_split
        for language in languages_of_split:
            examples = load_split(task, name, data_dir, language, LIMIT)
            alone = task_type.evaluate(model, tokenizer, examples, task, SETTINGS, language)
            assert scored[language] == alone.metrics, f"{name}-{language}"
            written = task_type.read_predictions(result.predictions_dir / f"{name}-{language}.{task_type.prediction_suffix}")
            assert written == alone.predictions, f"{name}-{language}"
