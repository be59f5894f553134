"""Every run row of the research log has a recipe whose dry run resolves to the protocol of that run.

The expected protocols below are written out independently of the YAML files, from the research
training scripts as they were at each run's date (ksopyla/MrCogito: scripts/train_mlm_multigpu_*.sh,
training/mlm_training.py) and its reports; the recipes' `sources:` name the commits.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import shared_path

from cogito.cli.pretrain import cli_main, parse_args
from cogito.configuration_cogito import CogitoConfig
from cogito.training.pretrain import parse_config_overrides, pretrain
from cogito.training.recipes import (
    RECIPE_DIR,
    applied_config,
    list_recipes,
    list_run_recipes,
    load_recipe,
    pending_config,
    recipe_argv,
    recipe_warnings,
)

RECIPES = list_recipes()


def research_log_run_ids() -> list[str]:
    """The run ids of the research log's "Training Runs" table (../shared; the test fails when it is missing)."""
    log = shared_path("reference", "master_experiment_log.md")
    ids = re.findall(r"^\|\s*\d{4}-\d{2}-\d{2}\s*\|\s*`([^`]+)`", log.read_text(), flags=re.MULTILINE)
    if not ids:
        raise ValueError(f"no run rows found in {log}")
    return ids


# run id: (decoder, L, FFN, per-device batch, accumulation, processes, lr, warmup, schedule, epochs, optim,
#          concept losses, weighting, weight, GLUE head)
L2 = dict(L=2, ffn=1024, lr=5e-4, warmup=2000, schedule="linear", epochs=20)
L6 = dict(L=6, ffn=2048, lr=3e-4, warmup=3000, schedule="linear", epochs=40)
L6_REG = dict(L=6, ffn=2048, lr=3e-4, warmup=1500, schedule="cosine", epochs=20)
NO_LOSS = dict(losses="none", weighting=None, weight=None)
EXPECTED = {
    "weighted_mlm_H512L2C128_20260117_153544": dict(
        decoder="weighted", batch=(48, 2, 3), optim="adamw_torch", head="decoder_dense_mean", **L2, **NO_LOSS
    ),
    "perceiver_mlm_H512L2C128_20260118_172328": dict(
        decoder="perceiver", batch=(32, 4, 2), optim="adamw_torch", head="cls_query_ffn", **L2, **NO_LOSS
    ),
    "perceiver_posonly_mlm_H512L2C128_20260119_204015": dict(
        decoder="perceiver_posonly", batch=(64, 1, 4), optim="adamw_torch", head="cls_query_ffn", **L2, **NO_LOSS
    ),
    "weighted_mlm_H512L6C128_20260207_174251": dict(
        decoder="weighted", batch=(64, 2, 4), optim="adamw_torch", head="decoder_dense_mean", **L6, **NO_LOSS
    ),
    "perceiver_posonly_mlm_H512L6C128_20260208_102656": dict(
        decoder="perceiver_posonly", batch=(64, 2, 4), optim="adamw_torch", head="cls_query_ffn", **L6, **NO_LOSS
    ),
    "perceiver_mlm_H512L6C128_20260208_211633": dict(
        decoder="perceiver", batch=(64, 2, 4), optim="adamw_torch", head="cls_query_ffn", **L6, **NO_LOSS
    ),
    "perceiver_mlm_H512L6C128_20260219_105435": dict(
        decoder="perceiver",
        batch=(64, 2, 4),
        optim="adamw_torch",
        head="cls_query_ffn",
        losses="combined",
        weighting="kendall_gal",
        weight=None,
        **L6_REG,
    ),
    "perceiver_mlm_H512L6C128_20260220_184029": dict(
        decoder="perceiver",
        batch=(64, 2, 4),
        optim="adamw_torch_fused",
        head="cls_query_ffn",
        losses="combined",
        weighting="fixed",
        weight=0.1,
        **L6_REG,
    ),
}
ALIASES = {
    "weighted_mlm_l2": "weighted_mlm_H512L2C128_20260117_153544",
    "perceiver_mlm_l2": "perceiver_mlm_H512L2C128_20260118_172328",
    "perceiver_posonly_mlm_l2": "perceiver_posonly_mlm_H512L2C128_20260119_204015",
    "weighted_mlm_l6": "weighted_mlm_H512L6C128_20260207_174251",
    "perceiver_posonly_mlm_l6": "perceiver_posonly_mlm_H512L6C128_20260208_102656",
    "perceiver_mlm_l6": "perceiver_mlm_H512L6C128_20260208_211633",
    "perceiver_mlm_l6_combined_kendall_gal": "perceiver_mlm_H512L6C128_20260219_105435",
    "perceiver_mlm_l6_combined_fixed_0.1": "perceiver_mlm_H512L6C128_20260220_184029",
}
# The research model's fields (research config defaults and layout at bcf06ad), by decoder.
RESEARCH_FIELDS = dict(
    num_attention_heads=8,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    initializer_range=0.1,
    concept_initializer_range=0.2,
    layer_norm_eps=1e-5,
    embedding_norm=False,
    cross_attention_key_norm=False,
    decoder_ffn_type="mlp",
)


def dry_run(name: str, capsys, *flags: str) -> dict:
    assert cli_main(["--recipe", name, "--dry_run", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_run_row_of_the_research_log_has_a_recipe_named_by_its_run_id():
    run_ids = research_log_run_ids()
    assert len(run_ids) == 8
    assert set(run_ids) == set(EXPECTED) == set(list_run_recipes())
    for run_id in run_ids:
        assert load_recipe(run_id)["log_run"] == run_id


def test_short_family_names_select_the_run_recipes():
    assert set(RECIPES) >= {*ALIASES, "perceiver_mlm_l6_t_regs_mst"}
    for alias, run_id in ALIASES.items():
        recipe = load_recipe(alias)
        assert recipe["name"] == run_id and recipe["alias"] == alias


@pytest.mark.parametrize("run_id", sorted(EXPECTED))
def test_recipe_dry_run_resolves_to_the_protocol_of_its_run(run_id, capsys):
    expected = EXPECTED[run_id]
    resolved = dry_run(run_id, capsys, "--output_dir", "unused")
    model, data, training, recipe = resolved["model"], resolved["data"], resolved["training"], resolved["recipe"]
    # Data, tokenizer, masking: one document per example (no packing), Minipile's test split for evaluation.
    assert data["dataset_name"] == "JeanKaddour/minipile" and data["validation_split_name"] == "test"
    assert model["tokenizer_name"] == "answerdotai/ModernBERT-base"
    assert data["line_by_line"] is True and data["max_seq_length"] == 512
    assert data["mlm_probability"] == 0.15 and data["whole_word_masking"] is False
    assert recipe["masking"] == {"mlm_probability": 0.15, "mask": 0.8, "random": 0.1, "keep": 0.1}
    # Architecture.
    assert (model["decoder_type"], model["hidden_size"], model["num_hidden_layers"], model["concept_num"]) == (
        expected["decoder"],
        512,
        expected["L"],
        128,
    )
    config = parse_config_overrides(model["config_overrides"])
    assert config["intermediate_size"] == expected["ffn"] and config["num_attention_heads"] == 8
    # Optimisation.
    per_device, accumulation, processes = expected["batch"]
    assert (training["per_device_train_batch_size"], training["gradient_accumulation_steps"]) == (
        per_device,
        accumulation,
    )
    assert recipe["processes"] == processes
    assert recipe["effective_batch_size"] == per_device * accumulation * processes
    assert f"--num_processes {processes}" in recipe["launch"]
    assert training["learning_rate"] == expected["lr"]
    assert training["warmup_steps"] == expected["warmup"]
    assert training["lr_scheduler_type"] == expected["schedule"]
    assert training["num_train_epochs"] == expected["epochs"]
    assert training["optim"] == expected["optim"]
    assert training["weight_decay"] == 0.01 and training["max_grad_norm"] == 1.0
    assert training["bf16"] is True and training["seed"] == 42
    assert training["load_best_model_at_end"] is True and training["metric_for_best_model"] == "eval_loss"
    # Concept losses.
    assert training["concept_losses"] == expected["losses"]
    if expected["weighting"]:
        assert training["loss_weighting"] == expected["weighting"]
    if expected["weight"] is not None:
        assert training["loss_weight"] == expected["weight"]
    # Provenance: the run's date, its sources, and what is unknown said rather than guessed.
    assert recipe["date"].replace("-", "").replace(" ", "_").replace(":", "") == run_id[-15:]
    assert recipe["sources"] and all(re.match(r"([0-9a-f]{7} |docs/)", source) for source in recipe["sources"])
    assert isinstance(recipe["unknown"], list) and recipe["unknown"]


@pytest.mark.parametrize("run_id", sorted(EXPECTED))
def test_recipe_glue_section_is_the_head_and_protocol_behind_the_rows_scores(run_id):
    recipe = load_recipe(run_id)
    glue = recipe["glue"]
    assert glue["heads"] == [EXPECTED[run_id]["head"]]
    assert float(glue["learning_rate"]) == 1e-5
    assert (glue["per_device_train_batch_size"], glue["max_seq_length"], glue["warmup_steps"]) == (96, 128, 100)
    assert glue["lr_scheduler_type"] == "linear" and glue["weight_decay"] == 0.01
    assert glue["selection"] == "best_on_validation"
    assert recipe["glue_honest"] == {"selection": "heldout"}
    # The YAML labels the log's selection as optimistic where it sets it.
    selection_line = next(
        line for line in (RECIPE_DIR / f"{run_id}.yaml").read_text().splitlines() if "selection: best" in line
    )
    assert "OPTIMISTIC" in selection_line


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_glue_protocol_parses_with_cogito_glue(name):
    from cogito.cli.glue import parse_args as glue_args

    # bf16 recipes are validated as on this machine: TrainingArguments refuses GPU bf16 without a GPU.
    argv = ["--recipe", name, "--model_name_or_path", "runs/x", "--output_dir", "glue/x", "--use_cpu", "true"]
    recipe = load_recipe(name)
    args, _ = glue_args(argv)
    assert args.learning_rate == 1e-5 and args.per_device_train_batch_size == 96
    assert args.max_seq_length == 128 and args.warmup_steps == 100 and args.weight_decay == 0.01
    assert args.heads == recipe["glue"]["heads"] and args.tasks == ["mrpc", "stsb", "qqp", "mnli"]
    if recipe.get("log_run"):  # the log's numbers: selected on the split they report
        assert args.heads == [EXPECTED[recipe["log_run"]]["head"]] and args.selection == "best_on_validation"
        honest, _ = glue_args([*argv, "--selection", recipe["glue_honest"]["selection"]])
        assert honest.selection == "heldout" and honest.heads == args.heads


@pytest.mark.parametrize("name", [*sorted(EXPECTED), "perceiver_mlm_l6_t_regs_mst"])
def test_recipe_config_is_the_research_model_applied_where_cogito_has_the_field(name):
    recipe = load_recipe(name)
    config = recipe["config"]
    for key, value in RESEARCH_FIELDS.items():
        assert config[key] == value, key
    weighted = recipe["pretrain"]["decoder_type"] == "weighted"
    assert config["tie_word_embeddings"] is (not weighted)
    assert config["lm_head_type"] == ("dense_act" if weighted else "linear")
    fields = set(CogitoConfig().to_dict())
    applied, pending = applied_config(recipe), pending_config(recipe)
    assert set(applied) | set(pending) == set(config) and set(applied) <= fields and not set(pending) & fields
    argv = recipe_argv(recipe)
    overrides = parse_config_overrides(argv[argv.index("--config_overrides") + 1])
    assert overrides == {
        key: pytest.approx(value) if isinstance(value, float) else value for key, value in applied.items()
    }
    try:  # the research layout of the parity-model branch, when this Cogito has it
        from cogito.configuration_cogito import research_architecture
    except ImportError:
        return
    layout = research_architecture(recipe["pretrain"]["decoder_type"])
    for key, value in config.items():
        if key in layout:
            assert layout[key] == value, key


def test_a_run_warns_about_what_it_will_not_reproduce():
    recipe = load_recipe("perceiver_mlm_l6")
    parsed = parse_args(["--recipe", "perceiver_mlm_l6", "--use_cpu", "true", "--bf16", "false"])
    warnings = recipe_warnings(recipe, parsed[2])
    assert any("effective batch of 512" in w and "this run's is 128" in w for w in warnings)
    assert bool(pending_config(recipe)) == any("has no field" in w for w in warnings)


def test_command_line_flags_override_the_recipe(capsys):
    resolved = dry_run("perceiver_mlm_l2", capsys, "--learning_rate", "1e-4", "--decoder_type", "weighted")
    assert resolved["training"]["learning_rate"] == 1e-4
    assert resolved["model"]["decoder_type"] == "weighted"


def test_unknown_recipe_lists_the_recipes_and_run_ids():
    with pytest.raises(ValueError, match="perceiver_mlm_l6.*perceiver_mlm_H512L6C128_20260208_211633"):
        parse_args(["--recipe", "bert_base"])


def test_list_recipes_prints_each_short_name_with_its_run_id(capsys):
    assert cli_main(["--list_recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for alias, run_id in ALIASES.items():
        assert any(line.split()[:2] == [alias, run_id] for line in lines), alias


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_two_steps_at_tiny_size(name, tmp_path, corpus_text_file):
    # The recipe's own config fields (init, dropout, heads, tying), with a tiny FFN.
    fields = {**applied_config(load_recipe(name)), "intermediate_size": 64}
    overrides = ",".join(
        f"{key}={str(value).lower() if isinstance(value, bool) else value}" for key, value in fields.items()
    )
    parsed = parse_args(
        [
            "--recipe",
            name,
            "--dataset_name",
            "none",
            "--tokenizer_name",
            "none",
            "--train_file",
            str(corpus_text_file),
            "--bf16",
            "false",
            "--use_cpu",
            "true",
            "--optim",
            "adamw_torch",
            "--report_to",
            "none",
            "--hidden_size",
            "32",
            "--num_hidden_layers",
            "2",
            "--concept_num",
            "8",
            "--config_overrides",
            overrides,
            "--max_seq_length",
            "32",
            "--tokenizer_vocab_size",
            "600",
            "--per_device_train_batch_size",
            "4",
            "--gradient_accumulation_steps",
            "1",
            "--max_steps",
            "2",
            "--eval_strategy",
            "no",
            "--save_strategy",
            "no",
            "--load_best_model_at_end",
            "false",
            "--max_eval_samples",
            "8",
            "--experiment_log",
            "none",
            "--output_dir",
            str(tmp_path / "run"),
            "--disable_tqdm",
            "true",
        ]
    )
    assert parsed[0].config_overrides == overrides
    summary = pretrain(*parsed)
    assert summary["global_step"] == 2
    config = CogitoConfig.from_pretrained(tmp_path / "run")
    assert {key: getattr(config, key) for key in fields} == fields
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_recipes_evaluate_on_minipile_test_split_like_the_research_runs(capsys):
    assert dry_run("perceiver_mlm_l6", capsys)["data"]["validation_split_name"] == "test"


def test_apply_recipe_puts_the_recipe_first_in_either_spelling():
    from cogito.training.recipes import apply_recipe, recipe_argv

    recipe = load_recipe("perceiver_mlm_l2")
    expected = recipe_argv(recipe, "glue") + ["--seed", "1"]
    assert apply_recipe(["--recipe", "perceiver_mlm_l2", "--seed", "1"], "glue") == expected
    assert apply_recipe(["--recipe=perceiver_mlm_l2", "--seed", "1"], "glue") == expected
    assert apply_recipe(["--seed", "1"], "glue") == ["--seed", "1"]
    with pytest.raises(ValueError, match="--recipe needs a name or a path; recipes: .*perceiver_mlm_l2"):
        apply_recipe(["--recipe", "--seed", "1"])


def test_dry_run_prints_the_recipe_protocol_in_either_spelling(capsys):
    assert cli_main(["--recipe=perceiver_mlm_l6", "--dry_run"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["recipe"]["name"] == "perceiver_mlm_H512L6C128_20260208_211633"
    assert resolved["training"]["warmup_steps"] == 3000 and resolved["recipe"]["effective_batch_size"] == 512
