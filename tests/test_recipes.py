"""Every research recipe resolves to valid arguments and trains at tiny size on the built-in corpus."""

from __future__ import annotations

import json

import pytest

from cogito.cli.pretrain import cli_main, parse_args
from cogito.training.pretrain import pretrain
from cogito.training.recipes import list_recipes, load_recipe

RECIPES = list_recipes()


def test_there_is_a_recipe_for_every_run_family_of_the_research_log():
    assert set(RECIPES) >= {
        "weighted_mlm_l2",
        "perceiver_mlm_l2",
        "perceiver_posonly_mlm_l2",
        "weighted_mlm_l6",
        "perceiver_mlm_l6",
        "perceiver_posonly_mlm_l6",
        "perceiver_mlm_l6_combined_kendall_gal",
        "perceiver_mlm_l6_combined_fixed_0.1",
        "perceiver_mlm_l6_t_regs_mst",
    }


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_dry_run_resolves_to_the_research_protocol(name, capsys):
    assert cli_main(["--recipe", name, "--dry-run", "--output_dir", "unused"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    model, data, training = resolved["model"], resolved["data"], resolved["training"]
    assert data["dataset_name"] == "JeanKaddour/minipile"
    assert model["tokenizer_name"] == "answerdotai/ModernBERT-base"
    assert (model["hidden_size"], model["concept_num"], data["max_seq_length"]) == (512, 128, 512)
    assert data["mlm_probability"] == 0.15
    assert training["lr_scheduler_type"] == "cosine" and training["warmup_steps"] == 1500
    assert training["per_device_train_batch_size"] * training["gradient_accumulation_steps"] * 4 == 512
    assert training["bf16"] is True
    recipe = load_recipe(name)
    assert model["decoder_type"] == recipe["pretrain"]["decoder_type"]
    assert training["concept_losses"] == recipe["pretrain"]["concept_losses"]
    assert training["learning_rate"] == (5e-4 if model["num_hidden_layers"] == 2 else 3e-4)


def test_command_line_flags_override_the_recipe(capsys):
    cli_main(["--recipe", "perceiver_mlm_l2", "--dry-run", "--learning_rate", "1e-4", "--decoder_type", "weighted"])
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["training"]["learning_rate"] == 1e-4
    assert resolved["model"]["decoder_type"] == "weighted"


def test_unknown_recipe_lists_the_recipes():
    with pytest.raises(ValueError, match="perceiver_mlm_l6"):
        parse_args(["--recipe", "bert_base"])


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_two_steps_at_tiny_size(name, tmp_path, corpus_text_file):
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
            "--report_to",
            "none",
            "--hidden_size",
            "32",
            "--num_hidden_layers",
            "2",
            "--concept_num",
            "8",
            "--config_overrides",
            "intermediate_size=64",
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
    summary = pretrain(*parsed)
    assert summary["global_step"] == 2
    assert (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_glue_protocol_parses_with_cogito_glue(name):
    from cogito.cli.glue import parse_args as glue_args

    # bf16 recipes are validated as on this machine: TrainingArguments refuses GPU bf16 without a GPU.
    argv = ["--recipe", name, "--model_name_or_path", "runs/x", "--output_dir", "glue/x", "--use_cpu", "true"]
    args, _ = glue_args(argv)
    assert args.learning_rate == 1e-5 and args.per_device_train_batch_size == 96
    assert args.max_seq_length == 128 and args.warmup_steps == 100
    assert args.heads == ["via_decoder"] and args.tasks == ["mrpc", "stsb", "qqp", "mnli"]


def test_recipes_evaluate_on_minipile_test_split_like_the_research_runs(capsys):
    cli_main(["--recipe", "perceiver_mlm_l6", "--dry-run"])
    assert json.loads(capsys.readouterr().out)["data"]["validation_split_name"] == "test"


def test_apply_recipe_puts_the_recipe_first_in_either_spelling():
    from cogito.training.recipes import apply_recipe, recipe_argv

    recipe = load_recipe("perceiver_mlm_l2")
    expected = recipe_argv(recipe, "glue") + ["--seed", "1"]
    assert apply_recipe(["--recipe", "perceiver_mlm_l2", "--seed", "1"], "glue") == expected
    assert apply_recipe(["--recipe=perceiver_mlm_l2", "--seed", "1"], "glue") == expected
    assert apply_recipe(["--seed", "1"], "glue") == ["--seed", "1"]
    with pytest.raises(ValueError, match="--recipe needs a name or a path; recipes: .*perceiver_mlm_l2"):
        apply_recipe(["--recipe", "--seed", "1"])
