"""Multi-task intermediate stages: sampling, config validation, cache keys, `sweeper plan` (no training)."""

import json
import pickle
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sweeper.cache.store import locate_stage
from sweeper.commands.cli import app
from sweeper.commands.plan import build_plan, plan_lines
from sweeper.config import load_config
from sweeper.data.formats import read_examples
from sweeper.errors import ConfigError, MissingDataError, UnknownTaskError
from sweeper.sweep.grid import intermediate_stages
from sweeper.sweep.multitask import MultitaskStage, TaskBatchSampler, sampling_probabilities
from sweeper.sweep.validation import validate_sweep

SMOKE = Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml"
MLM = "mlm: {train_files: [xtreme/tatoeba/tatoeba.deu-eng.deu], dev_files: [xtreme/tatoeba/tatoeba.fra-eng.fra]}"
runner = CliRunner()


def smoke_with(*overrides: str):
    return load_config(SMOKE, ["intermediate_tasks=[none, anli, mix]", *overrides])


def mix(body: str) -> str:
    return f"multitask={{mix: {{{body}}}}}"


# --- sampling -------------------------------------------------------------------------------


def test_proportional_uniform_and_temperature_probabilities_by_hand():
    assert sampling_probabilities([100, 400], "proportional") == pytest.approx([0.2, 0.8])
    assert sampling_probabilities([100, 400], "uniform") == pytest.approx([0.5, 0.5])
    # T = 2: sqrt(100) = 10, sqrt(400) = 20 -> 10/30, 20/30
    assert sampling_probabilities([100, 400], "temperature", 2.0) == pytest.approx([1 / 3, 2 / 3])
    # T = 3: cube roots 1, 2, 3 -> 1/6, 2/6, 3/6
    assert sampling_probabilities([1, 8, 27], "temperature", 3.0) == pytest.approx([1 / 6, 2 / 6, 3 / 6])
    assert sampling_probabilities([3, 5, 9], "temperature", 1.0) == pytest.approx(
        sampling_probabilities([3, 5, 9], "proportional")
    )


@pytest.mark.parametrize(
    ("sizes", "sampling", "temperature", "message"),
    [
        ([10, 0], "uniform", None, "needs training examples"),
        ([10], "temperature", None, "temperature > 0"),
        ([10], "annealed", None, "unknown sampling"),
    ],
)
def test_bad_sampling_input_is_rejected(sizes, sampling, temperature, message):
    with pytest.raises(ValueError, match=message):
        sampling_probabilities(sizes, sampling, temperature)


def test_batch_sampler_draws_one_member_per_batch_with_its_probability():
    sizes, probabilities = [30, 5, 65], [0.2, 0.3, 0.5]
    sampler = TaskBatchSampler(sizes, probabilities, batch_size=8, seed=3)
    assert len(sampler) == 13, "ceil(100 / 8) batches per epoch"
    ranges = [range(0, 30), range(30, 35), range(35, 100)]
    counts = Counter()
    for epoch in range(300):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len(batch) == 8
            (member,) = [index for index, indices in enumerate(ranges) if batch[0] in indices]
            assert all(i in ranges[member] for i in batch), "a batch never mixes members"
            counts[member] += 1
    total = sum(counts.values())
    for member, probability in enumerate(probabilities):
        assert counts[member] / total == pytest.approx(probability, abs=0.02)


def test_batch_sampler_is_reproducible_per_epoch_and_visits_every_feature():
    first, again = TaskBatchSampler([20, 12], [0.5, 0.5], 4, seed=1), TaskBatchSampler([20, 12], [0.5, 0.5], 4, seed=1)
    assert list(first) == list(again)
    again.set_epoch(1)
    assert list(first) != list(again), "each epoch draws anew"
    only_first = TaskBatchSampler([20, 12], [1.0, 0.0], 4, seed=1)
    seen = [index for batch in only_first for index in batch]
    assert len(seen) == 32 and all(index < 20 for index in seen), "8 batches of member 0 only"
    assert sorted(seen[:20]) == list(range(20)), "every feature once before any repeats"


# --- configuration ----------------------------------------------------------------------------


def test_temperature_sampling_needs_a_temperature():
    with pytest.raises(ConfigError, match=r"multitask\.mix.*temperature sampling needs `temperature`"):
        smoke_with(mix("tasks: [anli, tydiqa], sampling: temperature"))
    with pytest.raises(ConfigError, match="needs `sampling: temperature`"):
        smoke_with(mix("tasks: [anli, tydiqa], temperature: 2.0"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tasks: [anli, mlm]", "add an `mlm` section"),
        (f"tasks: [anli], {MLM}", "`mlm` is not in tasks"),
        ("tasks: [anli, anli]", r"lists \['anli'\] twice"),
        ("tasks: []", "at least 1 item"),
    ],
)
def test_inconsistent_multitask_entries_fail_at_load(body, message):
    with pytest.raises(ConfigError, match=message):
        smoke_with(mix(body))


def test_stage_names_must_not_clash_with_none_or_task_ids(data_dir):
    with pytest.raises(ConfigError, match="not 'none' or 'mlm'"):
        load_config(SMOKE, ["multitask={none: {tasks: [anli]}}"])
    config = load_config(SMOKE, ["intermediate_tasks=[none, mnli]", "multitask={mnli: {tasks: [anli, tydiqa]}}"])
    with pytest.raises(ConfigError, match="'mnli' is already a task id"):
        validate_sweep(config, data_dir)


def test_a_misspelt_stage_name_suggests_the_stage(data_dir):
    config = load_config(SMOKE, ["intermediate_tasks=[none, mxi]", mix("tasks: [anli, tydiqa]")])
    with pytest.raises(UnknownTaskError, match="Did you mean 'mix'"):
        validate_sweep(config, data_dir)


def test_member_errors_are_found_before_anything_starts(data_dir):
    with pytest.raises(UnknownTaskError, match="Did you mean 'tydiqa'"):
        validate_sweep(smoke_with(mix("tasks: [anli, tydiqaa]")), data_dir)
    with pytest.raises(ConfigError, match="'tatoeba' is a retrieval task"):
        validate_sweep(smoke_with(mix("tasks: [anli, tatoeba]")), data_dir)
    with pytest.raises(ConfigError, match="has no split 'translate_train'"):
        validate_sweep(smoke_with(mix("tasks: [anli, {task: tydiqa, train_split: translate_train}]")), data_dir)
    with pytest.raises(ConfigError, match=r"no \{lang\} in its files"):
        validate_sweep(smoke_with(mix("tasks: [{task: anli, languages: [de]}]")), data_dir)
    with pytest.raises(MissingDataError, match="squad/translate-train/squad.translate.train.en-de.json"):
        validate_sweep(smoke_with(mix("tasks: [{task: squad_v1, train_split: translate_train, languages: [de]}]")), data_dir)
    missing_mlm = "mlm: {train_files: [xtreme/tatoeba/nothing.txt], dev_files: [xtreme/tatoeba/tatoeba.fra-eng.fra]}"
    with pytest.raises(MissingDataError, match="nothing.txt"):
        validate_sweep(smoke_with(mix(f"tasks: [anli, mlm], {missing_mlm}")), data_dir)
    validate_sweep(smoke_with(mix(f"tasks: [anli, tydiqa, mlm], {MLM}")), data_dir)


# --- cache keys ---------------------------------------------------------------------------------


def stage_of(*overrides: str) -> MultitaskStage:
    stages = intermediate_stages(smoke_with(*overrides))
    return next(stage for stage in stages if isinstance(stage, MultitaskStage))


def test_the_cache_key_covers_members_sampling_mlm_files_and_settings():
    base = stage_of(mix(f"tasks: [anli, tydiqa, mlm], {MLM}"))
    assert stage_of(mix(f"tasks: [anli, tydiqa, mlm], {MLM}")).key == base.key, "same stage, same key"
    variants = [
        mix(f"tasks: [anli, mlm], {MLM}"),
        mix(f"tasks: [anli, tydiqa, mlm], sampling: uniform, {MLM}"),
        mix(f"tasks: [anli, tydiqa, mlm], sampling: temperature, temperature: 2.0, {MLM}"),
        mix(
            "tasks: [anli, tydiqa, mlm], mlm: {train_files: [xtreme/tatoeba/tatoeba.deu-eng.deu], "
            "dev_files: [xtreme/tatoeba/tatoeba.spa-eng.spa]}"
        ),
        mix(
            "tasks: [anli, tydiqa, mlm], mlm: {train_files: [xtreme/tatoeba/tatoeba.deu-eng.deu], "
            "dev_files: [xtreme/tatoeba/tatoeba.fra-eng.fra], mlm_probability: 0.2}"
        ),
        mix(f"tasks: [anli, {{task: tydiqa, name: tydiqa_b}}, mlm], {MLM}"),
    ]
    keys = {stage_of(variant).key for variant in variants}
    assert len(keys) == len(variants) and base.key not in keys
    assert (
        stage_of(mix(f"tasks: [anli, tydiqa, mlm], {MLM}"), "training_overrides={mix: {learning_rate: 3.0e-4}}").key != base.key
    )
    a, b = (stage_of(mix(f"temperature: {t}, sampling: temperature, tasks: [anli, tydiqa]")).key for t in (2.0, 3.0))
    assert a != b
    changed_member = stage_of(mix(f"tasks: [anli, tydiqa, mlm], {MLM}"), "task_overrides.tydiqa.version=2")
    assert changed_member.key != base.key, "a member's task file is part of the key"


def test_stage_round_trips_through_pickle_as_train_workers_receive_it():
    stage = stage_of(mix(f"tasks: [anli, {{task: squad_v1, train_split: translate_train, languages: [de, es]}}, mlm], {MLM}"))
    assert pickle.loads(pickle.dumps(stage)) == stage
    assert [member.name for member in stage.members] == ["anli", "squad_v1", "mlm"]


def test_the_stage_cache_key_covers_every_member_s_data_and_the_mlm_files(tmp_path, data_dir):
    config = smoke_with(mix(f"tasks: [anli, mlm], {MLM}"))
    (stage,) = [s for s in intermediate_stages(config) if s.name == "mix"]
    copy = tmp_path / "data"
    shutil.copytree(data_dir / "english" / "anli", copy / "english" / "anli")
    shutil.copytree(data_dir / "xtreme" / "tatoeba", copy / "xtreme" / "tatoeba")
    located = locate_stage(stage, tmp_path / "cache", {"hub": "tiny"}, copy, 1)
    assert located.path.name == f"mix-{located.key}"
    assert set(located.inputs["data"]) == {"anli", "mlm"}, "each member's data and the MLM text files"
    assert located.key == locate_stage(stage, tmp_path / "cache", {"hub": "tiny"}, data_dir, 1).key, "same files, same key"
    with (copy / "xtreme" / "tatoeba" / "tatoeba.deu-eng.deu").open("a", encoding="utf-8") as handle:
        handle.write("Ein neuer Satz.\n")
    assert locate_stage(stage, tmp_path / "cache", {"hub": "tiny"}, copy, 1).key != located.key, "changed MLM text, new key"


# --- sweeper plan -----------------------------------------------------------------------------


def test_plan_shows_the_multitask_stage(tmp_path, data_dir, tiny_dir):
    entry = mix(f"tasks: [anli, tydiqa, mlm], sampling: temperature, temperature: 2.0, {MLM}")
    cache = f"storage.stage_cache_dir={tmp_path / 'stages'}"  # empty: other tests' encoders are not cached here
    result = runner.invoke(
        app,
        [
            "plan",
            str(SMOKE),
            "--data-dir",
            str(data_dir),
            "--output",
            str(tmp_path / "out"),
            "intermediate_tasks=[none, anli, mix]",
            entry,
            cache,
        ],
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1. Intermediate stages: 2 (2 to train, 0 cached)" in text
    assert "2. Target trials: 12 (3 intermediate × 2 trained target(s) × 2 per cell" in text
    config = smoke_with(entry, cache)
    plan = build_plan(config, tmp_path / "out", data_dir, str(tiny_dir))
    (row,) = [line for line in plan_lines(config, plan) if line.startswith("| mix")]
    assert row.startswith("| mix (multi-task: anli, tydiqa, mlm; temperature (T=2) sampling) | to train | – | 4 |")
    assert "/intermediate/mix-" in row and str(plan.intermediate[1].encoder_dir) in row


# --- translated data readers ------------------------------------------------------------------


def test_xnli_mt_translate_train_file_is_read_in_its_release_layout(tmp_path):
    path = tmp_path / "XNLI-MT-1.0" / "multinli" / "multinli.train.de.tsv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "premise\thypo\tlabel\n"
        "Konzeptionell cremeabschöpfung hat zwei grundlegende dimensionen .\tProdukt und Geographie sind das , was creme abschöpfen funktioniert .\tneutral\n"
        'Sie wissen , während der Saison "und" ich schätze .\tMan verliert die Dinge .\tentailment\n'
        "Einer unserer Nummer wird Ihre Anweisungen minutiös ausführen .\tNiemand in unserem Team kann das .\tcontradictory\n",
        encoding="utf-8",
    )
    examples = read_examples("xnli_mt_tsv", path)
    assert [example["label"] for example in examples] == ["neutral", "entailment", "contradiction"]
    assert examples[1]["text_a"] == 'Sie wissen , während der Saison "und" ich schätze .', "no quoting, as XNLI-MT"
    assert examples[2]["text_b"] == "Niemand in unserem Team kann das ."


def test_the_readme_example_is_a_valid_configuration():
    readme = (SMOKE.parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Multi-task intermediate stages", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    example = yaml.safe_load(block)
    config = load_config(SMOKE, [f"{key}={json.dumps(value)}" for key, value in example.items()])
    stage = next(stage for stage in intermediate_stages(config) if isinstance(stage, MultitaskStage))
    assert [member.name for member in stage.members] == ["mnli", "squad_v1", "mlm", "squad_tt"]
    assert stage.members[3].train_split == "translate_train" and stage.members[3].languages == ("de", "es")
