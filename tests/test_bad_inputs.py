"""A table of bad inputs across every layer: each gets a clear error naming the bad value.

Layers: config values, loading a checkpoint, the forward pass, and each command (one line
`cogito <command>: error: ...`, exit code 2, no traceback). Issue 14.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import save_file

from cogito import CogitoForMaskedLM, CogitoForSequenceClassification, CogitoModel
from cogito.cli import main

VOCAB = tiny_config().vocab_size

# ---- config: (field overrides, text the message must contain)
BAD_CONFIGS = [
    ({"concept_num": 10**9}, "concept_num must be at most 16384, got 1000000000"),
    ({"concept_num": 0}, "concept_num must be a positive integer, got 0"),
    ({"concept_num": 2.5}, "concept_num must be a positive integer, got 2.5"),
    ({"concept_num": True}, "concept_num must be a positive integer, got True"),
    ({"layer_norm_eps": math.nan}, "layer_norm_eps must be a positive finite number, got nan"),
    ({"layer_norm_eps": math.inf}, "layer_norm_eps must be a positive finite number, got inf"),
    ({"layer_norm_eps": 0.0}, "layer_norm_eps must be a positive finite number, got 0.0"),
    ({"layer_norm_eps": -1e-5}, "layer_norm_eps must be a positive finite number, got -1e-05"),
    ({"final_norm_eps": math.nan}, "final_norm_eps must be a positive finite number, got nan"),
    ({"initializer_range": math.inf}, "initializer_range must be a positive finite number, got inf"),
    ({"token_embedding_dim": 64}, "token_embedding_dim must be at most hidden_size=32"),
    ({"token_embedding_dim": 0}, "token_embedding_dim must be None or a positive integer, got 0"),
    ({"problem_type": "ranking"}, "problem_type must be None or one of regression"),
    ({"num_labels": 0}, "num_labels must be a positive integer of at most 100000, got 0"),
    ({"num_labels": -1}, "num_labels must be a positive integer of at most 100000, got -1"),
    ({"num_labels": 10**9}, "num_labels must be a positive integer of at most 100000, got 1000000000"),
    ({"num_labels": 2.5}, "num_labels must be a positive integer of at most 100000, got 2.5"),
    ({"vocab_size": 10**12}, "vocab_size must be at most 4194304, got 1000000000000"),
    ({"tie_word_embeddings": "yes"}, "tie_word_embeddings must be True or False, got 'yes'"),
    ({"num_attention_heads": 5}, "hidden_size (32) must be divisible by num_attention_heads (5)"),
    ({"decoder_type": "mlp"}, "decoder_type must be one of weighted, perceiver, perceiver_posonly; got 'mlp'"),
    ({"hidden_act": "swish2"}, "hidden_act must be an activation name known to transformers"),
    ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob must be a probability in [0, 1), got 1.0"),
    ({"pad_token_id": VOCAB}, f"pad_token_id must be None or a token id in [0, vocab_size={VOCAB}), got {VOCAB}"),
    ({"use_bixt": "yes"}, "use_bixt must be True or False, got 'yes'"),
    ({"classifier_pooling": "max"}, "classifier_pooling must be one of"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_CONFIGS)
def test_bad_config_value_is_refused_naming_the_field(overrides, message):
    with pytest.raises(ValueError) as error:
        tiny_config(**overrides)
    assert message in str(error.value)


# ---- loading
def _saved(tmp_path, edit=None):
    folder = tmp_path / "model"
    CogitoForMaskedLM(tiny_config()).save_pretrained(folder)
    if edit is not None:
        config = json.loads((folder / "config.json").read_text())
        edit(config)
        (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("field", ["hidden_act", "decoder_type", "hidden_size", "concept_num", "embedding_norm"])
def test_config_json_without_an_architecture_field_is_refused_naming_it(tmp_path, field):
    folder = _saved(tmp_path, lambda config: config.pop(field))
    with pytest.raises(ValueError, match=f"lacks the Cogito architecture field.*{field}"):
        CogitoForMaskedLM.from_pretrained(folder)


def test_a_bert_config_is_refused_by_a_cogito_class(tmp_path):
    folder = _saved(tmp_path, lambda config: config.update(model_type="bert"))
    with pytest.raises(ValueError, match="model_type 'bert', not 'cogito'"):
        CogitoForMaskedLM.from_pretrained(folder)


def test_weights_of_another_model_are_refused_naming_the_missing_encoder_weights(tmp_path):
    folder = _saved(tmp_path)
    (folder / "model.safetensors").unlink()
    # A BERT-style state dict: nothing a Cogito encoder can use.
    save_file({"bert.embeddings.word_embeddings.weight": torch.zeros(VOCAB, 32)}, folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"lacks \d+ \(cogito\..*\) encoder weight\(s\) of CogitoForMaskedLM"):
        CogitoForMaskedLM.from_pretrained(folder)
    with pytest.raises(ValueError, match="encoder weight"):
        CogitoModel.from_pretrained(folder)


def test_only_the_new_head_may_be_missing(tmp_path):
    folder = _saved(tmp_path)
    model, info = CogitoForSequenceClassification.from_pretrained(folder, num_labels=2, output_loading_info=True)
    assert info["missing_keys"] and all(not key.startswith("cogito.") for key in info["missing_keys"])
    # An encoder-only checkpoint gives a masked-LM model a whole new head (its projection is tied).
    encoder = tmp_path / "encoder"
    CogitoModel.from_pretrained(folder).save_pretrained(encoder)
    mlm, info = CogitoForMaskedLM.from_pretrained(encoder, output_loading_info=True)
    assert {key.split(".")[0] for key in info["missing_keys"]} == {"decoder", "lm_head"}


def _drop_weights(folder, prefix):
    from safetensors.torch import load_file

    weights = load_file(folder / "model.safetensors")
    dropped = sorted(key for key in weights if key.startswith(prefix))
    save_file({k: v for k, v in weights.items() if k not in dropped}, folder / "model.safetensors")
    return dropped


def test_a_checkpoint_missing_weights_of_its_own_class_is_refused_naming_them(tmp_path):
    folder = _saved(tmp_path)
    dropped = _drop_weights(folder, "decoder.")  # the whole decoder: a head of another model would be new
    assert dropped
    with pytest.raises(ValueError, match=rf"saved from CogitoForMaskedLM but lacks {len(dropped)} \(decoder\."):
        CogitoForMaskedLM.from_pretrained(folder)


def test_a_half_present_head_is_refused_naming_what_it_lacks(tmp_path):
    folder = _saved(tmp_path, lambda config: config.update(architectures=["SomethingElse"]))
    (dropped,) = _drop_weights(folder, "lm_head.dense.weight")
    with pytest.raises(ValueError, match=f"holds part of CogitoForMaskedLM.lm_head but lacks 1 \\({dropped}\\)"):
        CogitoForMaskedLM.from_pretrained(folder)


# ---- forward: (description, make keyword arguments from a valid (2, 6) batch, exception, message)
def _ids(**kw):
    return torch.randint(5, VOCAB, (2, 6), generator=torch.Generator().manual_seed(0), **kw)


BAD_FORWARDS = [
    ("id >= vocab", lambda: {"input_ids": _ids().index_fill(1, torch.tensor([2]), VOCAB)}, ValueError, f"to {VOCAB}"),
    ("negative id", lambda: {"input_ids": _ids().index_fill(1, torch.tensor([0]), -3)}, ValueError, "from -3"),
    ("float ids", lambda: {"input_ids": _ids().float()}, TypeError, "dtype torch.float32"),
    ("bool ids", lambda: {"input_ids": _ids() > 50}, TypeError, "dtype torch.bool"),
    ("rank 1", lambda: {"input_ids": _ids()[0]}, ValueError, "got shape (6,)"),
    ("rank 3", lambda: {"input_ids": _ids()[None]}, ValueError, "got shape (1, 2, 6)"),
    ("B = 0", lambda: {"input_ids": _ids()[:0]}, ValueError, "got shape (0, 6)"),
    ("N = 0", lambda: {"input_ids": _ids()[:, :0]}, ValueError, "got shape (2, 0)"),
    ("list ids", lambda: {"input_ids": [[5, 6, 7]]}, TypeError, "got list"),
    ("mask shape", lambda: {"input_ids": _ids(), "attention_mask": torch.ones(2, 5)}, ValueError, "got (2, 5)"),
    ("mask rank", lambda: {"input_ids": _ids(), "attention_mask": torch.ones(6)}, ValueError, "got (6,)"),
    (
        "additive mask",
        lambda: {"input_ids": _ids(), "attention_mask": torch.zeros(2, 6).index_fill(1, torch.tensor([5]), -3.4e38)},
        ValueError,
        "additive mask",
    ),
    (
        "NaN mask",
        lambda: {"input_ids": _ids(), "attention_mask": torch.ones(2, 6).index_fill(1, torch.tensor([1]), math.nan)},
        ValueError,
        "got the value nan",
    ),
    (
        "mask of 2s",
        lambda: {"input_ids": _ids(), "attention_mask": torch.full((2, 6), 2)},
        ValueError,
        "got the value 2",
    ),
    (
        "positions too far",
        lambda: {"input_ids": _ids(), "position_ids": torch.arange(6).repeat(2, 1) + 60},
        ValueError,
        "max_position_embeddings=64), got values from 60 to 65",
    ),
    (
        "positions shape",
        lambda: {"input_ids": _ids(), "position_ids": torch.arange(5)[None]},
        ValueError,
        "(batch, 6)",
    ),
    ("misspelt kwarg", lambda: {"input_ids": _ids(), "attenton_mask": torch.ones(2, 6)}, TypeError, "attenton_mask"),
    ("uint8 ids", lambda: {"input_ids": _ids().to(torch.uint8)}, TypeError, "got dtype torch.uint8"),
    (
        "float positions",
        lambda: {"input_ids": _ids(), "position_ids": torch.arange(6.0).repeat(2, 1)},
        TypeError,
        "position_ids must be an integer tensor",
    ),
    (
        "embeds width",
        lambda: {"inputs_embeds": torch.zeros(2, 6, 7)},
        ValueError,
        "(batch, seq_len, 32), got (2, 6, 7)",
    ),
    ("int embeds", lambda: {"inputs_embeds": torch.zeros(2, 6, 32, dtype=torch.long)}, TypeError, "floating-point"),
    ("ids and embeds", lambda: {"input_ids": _ids(), "inputs_embeds": torch.zeros(2, 6, 32)}, ValueError, "one of"),
    (
        "complex mask",
        lambda: {"input_ids": _ids(), "attention_mask": torch.ones(2, 6, dtype=torch.complex64)},
        TypeError,
        "dtype torch.complex64",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "exception", "message"), [case[1:] for case in BAD_FORWARDS], ids=[case[0] for case in BAD_FORWARDS]
)
@pytest.mark.parametrize("model_class", [CogitoModel, CogitoForMaskedLM])
def test_bad_forward_input_is_refused_with_a_clear_message(model_class, kwargs, exception, message):
    model = model_class(tiny_config(max_position_embeddings=64)).eval()
    with pytest.raises(exception) as error:
        model(**kwargs())
    assert message in str(error.value)


def test_labels_out_of_range_are_refused_naming_the_range():
    mlm = CogitoForMaskedLM(tiny_config()).eval()
    labels = torch.full((2, 6), -100).index_fill(1, torch.tensor([3]), VOCAB + 4)
    with pytest.raises(ValueError, match=rf"token ids in \[0, {VOCAB}\) or -100 \(ignored\), got {VOCAB + 4}"):
        mlm(_ids(), labels=labels)
    classifier = CogitoForSequenceClassification(tiny_config(num_labels=3)).eval()
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\) or -100 \(ignored\), got 3"):
        classifier(_ids(), labels=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"got -2"):
        classifier(_ids(), labels=torch.tensor([-2, 1]))


def test_float_labels_for_a_single_label_classifier_are_refused():
    model = CogitoForSequenceClassification(tiny_config(num_labels=3)).eval()
    with pytest.raises(ValueError, match="labels of dtype torch.float32 given to a 3-class classifier"):
        model(_ids(), labels=torch.tensor([0.0, 2.0]))
    explicit = CogitoForSequenceClassification(tiny_config(num_labels=3, problem_type="single_label_classification"))
    with pytest.raises(ValueError, match="integer class ids"):
        explicit(_ids(), labels=torch.tensor([0.0, 2.0]))


def test_boolean_and_integer_masks_are_accepted_alike():
    model = CogitoModel(tiny_config()).eval()
    ids, mask = _ids(), torch.tensor([[1, 1, 1, 1, 0, 0], [1] * 6])
    torch.testing.assert_close(
        model(ids, attention_mask=mask).last_hidden_state, model(ids, attention_mask=mask.bool()).last_hidden_state
    )


# ---- commands: (command, arguments, text the one-line error must contain)
def _files(tmp):
    (tmp / "empty.txt").write_bytes(b"")
    (tmp / "blank.txt").write_bytes(b"\n  \n")
    (tmp / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (tmp / "latin1.txt").write_bytes("café au lait\n".encode("latin-1"))
    (tmp / "a_file").write_text("not a folder")
    (tmp / "ok.txt").write_text("one sentence\nanother one\n")
    (tmp / "broken.jsonl").write_text('{"text": "fine"}\n{"text": "unclosed\n')
    (tmp / "lists.jsonl").write_text('{"text": "fine"}\n["a", "list"]\n')
    (tmp / "broken.json").write_text('[{"text": "a"},\n{"text": "b"\n')
    (tmp / "fake.parquet").write_text("text\nnot parquet\n")
    (tmp / "corpus.txt.gz").write_bytes(b"\x1f\x8b")
    bert = tmp / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 32}))
    (bert / "vocab.txt").write_text("[PAD]\n[UNK]\nword\n")
    (tmp / "emptydir").mkdir()
    (tmp / "latin1.md").write_bytes("| Date | Run ID |\n|---|---|\n| caf\xe9 | x |\n".encode("latin-1"))
    cut = tmp / "cut"  # a Cogito folder whose weights were cut short (an interrupted copy)
    cut.mkdir()
    (cut / "config.json").write_text(json.dumps({"model_type": "cogito"}))
    (cut / "model.safetensors").write_bytes(b"")
    custom = tmp / "custom"  # a non-Cogito model with code of its own: never run without the opt-in
    custom.mkdir()
    auto_map = {"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel"}
    (custom / "config.json").write_text(json.dumps({"model_type": "mystery", "auto_map": auto_map}))
    for name in ("configuration_x.py", "modeling_x.py"):
        (custom / name).write_text(f"open({str(tmp / 'code_ran')!r}, 'w').close()\n")
    # A run killed before its first checkpoint: only its run file (concept_num 8, orthogonality).
    oldrun = tmp / "oldrun"
    oldrun.mkdir()
    (oldrun / "cogito_run.json").write_text(json.dumps(_run_record()))


def _run_record():
    from cogito.training.pretrain import DataArguments, ModelArguments

    model, data = ModelArguments(concept_num=8), DataArguments(max_seq_length=64)
    return {
        "run_id": "old_run",
        "concept_losses": "orthogonality",
        "loss_weighting": "fixed",
        "loss_weight": 0.1,
        "model": dataclasses.asdict(model),
        "data": dataclasses.asdict(data),
        "training": {"learning_rate": 1e-3, "lr_scheduler_type": "constant", "per_device_train_batch_size": 4},
    }


BAD_COMMANDS = [
    ("pretrain", ["--concept_losses", "orthogonality bogus"], "unknown concept loss 'bogus'"),
    ("pretrain", ["--train_file", "{tmp}/empty.txt"], "empty.txt is empty"),
    ("pretrain", ["--train_file", "{tmp}/blank.txt"], "blank.txt is empty"),
    ("pretrain", ["--train_file", "{tmp}/binary.txt"], "binary.txt is a binary file (NUL byte at offset 4)"),
    ("pretrain", ["--train_file", "{tmp}/latin1.txt"], "latin1.txt is not UTF-8 text (byte offset 3)"),
    ("pretrain", ["--train_file", "{tmp}/missing.txt"], "missing.txt"),
    ("pretrain", ["--train_file", "{tmp}/ok.txt", "--validation_file", "{tmp}/binary.txt"], "--validation_file"),
    ("pretrain", ["--output_dir", "{tmp}/a_file"], "a_file is a file, not a folder"),
    ("pretrain", ["--train_file", "{tmp}/broken.jsonl"], "broken.jsonl line 2 is not a JSON object: Unterminated"),
    ("pretrain", ["--train_file", "{tmp}/lists.jsonl"], "lists.jsonl line 2 is a JSON list, not an object"),
    ("pretrain", ["--train_file", "{tmp}/broken.json"], "broken.json is neither JSON Lines nor one JSON document"),
    ("pretrain", ["--train_file", "{tmp}/fake.parquet"], "fake.parquet is not a Parquet file"),
    ("pretrain", ["--train_file", "{tmp}/corpus.txt.gz"], "--train_file: Unsupported data file extension '.gz'"),
    ("pretrain", ["--gradient_accumulation_steps", "0"], "--gradient_accumulation_steps must be a positive integer"),
    ("pretrain", ["--output_dir", "{tmp}/bert"], "{tmp}/bert' already holds files and no Cogito run: choose a new"),
    ("pretrain", ["--output_dir", "{tmp}/oldrun"], "oldrun' holds a run (cogito_run.json): pass --resume_from"),
    (
        "pretrain",
        ["--output_dir", "{tmp}/bert", "--resume_from_checkpoint", "latest"],
        "bert' holds no checkpoint and no Cogito run (cogito_run.json) to resume; check --output_dir",
    ),
    (
        "pretrain",
        ["--output_dir", "{tmp}/not_there", "--resume_from_checkpoint", "latest"],
        "not_there' holds no checkpoint and no Cogito run (cogito_run.json) to resume",
    ),
    (
        "pretrain",
        ["--output_dir", "{tmp}/oldrun", "--resume_from_checkpoint", "latest", "--concept_num", "16"],
        "resuming run 'old_run' with different settings: --concept_num 16 (the run used 8)",
    ),
    (
        "pretrain",
        ["--output_dir", "{tmp}/oldrun", "--resume_from_checkpoint", "latest", "--max_seq_length", "128"],
        "--max_seq_length 128 (the run used 64)",
    ),
    (
        "pretrain",
        ["--output_dir", "{tmp}/oldrun", "--resume_from_checkpoint", "latest", "--concept_losses", "vicreg"],
        "--concept_losses 'vicreg' (the run used 'orthogonality')",
    ),
    ("pretrain", ["--learning_rate=-1e-4"], "--learning_rate must be >= 0, got -0.0001"),
    ("pretrain", ["--learning_rate", "nan"], "--learning_rate must be >= 0, got nan"),
    ("pretrain", ["--max_steps", "0"], "--max_steps must be a positive number of steps"),
    ("pretrain", ["--max_steps", "-5"], "got -5"),
    ("pretrain", ["--num_train_epochs", "0"], "--num_train_epochs must be > 0, got 0.0"),
    ("pretrain", ["--config_overrides", "hidden_size=abc"], "hidden_size takes a int, got 'abc'"),
    ("pretrain", ["--config_overrides", "concept_num=0"], "concept_num must be a positive integer, got 0"),
    ("pretrain", ["--config_overrides", "layer_norm_eps=nan"], "layer_norm_eps must be a positive finite number"),
    ("pretrain", ["--config_overrides", "nosuchfield=1"], "nosuchfield"),
    ("pretrain", ["--experiment_log", "{tmp}"], "is a folder"),
    ("pretrain", ["--resume_from_checkpoint", "latest"], "needs --output_dir"),
    ("pretrain", ["--resume_from_checkpoint", "{tmp}/nothing", "--output_dir", "{tmp}/run"], "not a complete"),
    ("pretrain", ["--model_name_or_path", "{tmp}/nope"], "--model_name_or_path {tmp}/nope: no such folder"),
    ("pretrain", ["--model_name_or_path", "{tmp}/a_file"], "a_file is a file: give a saved model folder"),
    ("pretrain", ["--tokenizer_name", "someone/no-tokenizer"], "the Hub is offline (HF_HUB_OFFLINE=1) with no cached"),
    ("pretrain", ["--bogus_flag", "1"], "unrecognized arguments: --bogus_flag 1"),
    ("analyze", ["--model_name_or_path", "{tmp}/bert", "--text_file", "{tmp}/ok.txt"], "is a 'bert' model"),
    ("analyze", ["--model_name_or_path", "{tmp}", "--text_file", "{tmp}/empty.txt"], "has no non-blank lines"),
    ("analyze", ["--model_name_or_path", "{tmp}", "--text_file", "{tmp}/ok.txt", "--max_length", "0"], "max_length"),
    ("analyze", ["--model_name_or_path", "{tmp}/nope", "--text_file", "{tmp}/ok.txt"], "{tmp}/nope: no such folder"),
    ("analyze", ["--model_name_or_path", "someone/model", "--text_file", "{tmp}/ok.txt"], "the Hub is offline"),
    (
        "analyze",
        ["--model_name_or_path", "{tmp}/emptydir", "--text_file", "{tmp}/ok.txt"],
        "emptydir has no config.json",
    ),
    (
        "analyze",
        ["--model_name_or_path", "{tmp}/bert", "--text_file", "{tmp}/ok.txt", "--output_dir", "{tmp}/a_file"],
        "--output_dir {tmp}/a_file is a file, not a folder",
    ),
    (
        "analyze",
        ["--model_name_or_path", "{tmp}/custom", "--text_file", "{tmp}/ok.txt"],
        "{tmp}/custom is a 'mystery' model that ships its own Python code (AutoConfig, AutoModel); pass "
        "--trust_remote_code true to run it",
    ),
    ("glue", ["--model_name_or_path", "m", "--output_dir", "{tmp}", "--heads", "cls"], "unknown head 'cls'"),
    (
        "glue",
        ["--model_name_or_path", "{tmp}/bert", "--output_dir", "{tmp}", "--tasks", "mrpc", "nosuch"],
        "unknown task 'nosuch'",
    ),
    ("glue", ["--model_name_or_path", "{tmp}/nope", "--output_dir", "{tmp}/g"], "{tmp}/nope: no such folder"),
    ("glue", ["--model_name_or_path", "{tmp}/bert", "--output_dir", "{tmp}/a_file"], "a_file is a file, not a folder"),
    (
        "glue",
        ["--model_name_or_path", "{tmp}/bert", "--output_dir", "{tmp}/g", "--max_train_samples", "0"],
        "--max_train_samples must be >= 1",
    ),
    (
        "glue",
        ["--model_name_or_path", "{tmp}/bert", "--output_dir", "{tmp}/g", "--max_eval_samples=-3"],
        "--max_eval_samples must be >= 1",
    ),
    (
        "glue",
        ["--model_name_or_path", "{tmp}/bert", "--output_dir", "{tmp}/g", "--learning_rate", "nan"],
        "--learning_rate must be a finite",
    ),
    (
        "glue",
        [
            "--model_name_or_path",
            "{tmp}/bert",
            "--output_dir",
            "{tmp}/g",
            "--data_dir",
            "{tmp}/nope",
            "--tasks",
            "rte",
        ],
        "is not a folder",
    ),
    ("card", ["--experiment_log", "{tmp}/nope.md", "--run_id", "x", "--output_dir", "{tmp}"], "nope.md"),
    ("card", ["--experiment_log", "{tmp}/ok.txt", "--all", "--output_dir", "{tmp}/cards"], "ok.txt has no runs"),
    (
        "card",
        ["--experiment_log", "{tmp}/latin1.md", "--all", "--output_dir", "{tmp}/cards"],
        "latin1.md is not UTF-8",
    ),
    ("export", ["--model_name_or_path", "{tmp}/cut", "--output_file", "{tmp}/m.onnx"], "not a complete safetensors"),
    ("convert", ["{tmp}/cut", "{tmp}/out"], "cut/model.safetensors is not a complete safetensors file (it is 0 bytes"),
    (
        "generate",
        ["--model_name_or_path", "{tmp}/cut", "--text", "a [MASK]"],
        "cut/model.safetensors is not a complete",
    ),
    ("analyze", ["--model_name_or_path", "{tmp}/cut", "--text_file", "{tmp}/ok.txt"], "not a complete safetensors"),
    ("glue", ["--model_name_or_path", "{tmp}/cut", "--output_dir", "{tmp}/g"], "not a complete safetensors"),
    ("card", ["--experiment_log", "{tmp}/ok.txt", "--output_dir", "{tmp}/cards"], "pass exactly one of --run_id"),
    ("card", ["--experiment_log", "{tmp}/ok.txt", "--all", "--output_dir", "{tmp}/a_file"], "a_file is a file"),
    ("push", ["--model_name_or_path", "{tmp}/nope", "--repo_id", "a/b", "--dry_run"], "nope is not a directory"),
    ("push", ["--model_name_or_path", "{tmp}/emptydir", "--repo_id", "a/b", "--dry_run"], "has no config.json"),
    ("demo", ["--objective", "bogus"], "--objective must be one of mlm, mdlm, tsdae; got 'bogus'"),
    ("demo", ["--max_steps", "0"], "--max_steps must be >= 1"),
    ("demo", ["--output_dir", "{tmp}/a_file"], "--output_dir {tmp}/a_file is a file, not a folder"),
    ("demo", ["--output_dir", "{tmp}/run", "--tasks", "nosuch"], "unknown task 'nosuch'; known tasks: cola"),
    ("demo", ["--output_dir", "{tmp}/run", "--tasks", "sst2"], "--tasks sst2 need --glue_dir"),
    ("demo", ["--output_dir", "{tmp}/run", "--glue_dir", "{tmp}/nope"], "--glue_dir {tmp}/nope is not a folder"),
    ("demo", ["--output_dir", "{tmp}/run", "--glue_dir", "{tmp}/emptydir"], "has no GLUE task folder"),
    ("demo", ["--output_dir", "{tmp}/run", "--namespace", "a/b"], "--namespace 'a/b' is not a Hub user"),
    ("demo", ["--output_dir", "{tmp}/run", "--analysis_samples", "0"], "--analysis_samples must be >= 1, got 0"),
    ("demo", ["--output_dir", "{tmp}/run", "--glue_epochs", "nan"], "--glue_epochs must be a finite number > 0"),
    ("demo", ["--output_dir", "{tmp}/run", "--concept_losses", "variance bogus"], "unknown concept loss 'bogus'"),
    ("demo", ["--output_dir", "{tmp}/run", "--experiment_log", "{tmp}/emptydir"], "emptydir is a folder"),
    ("bench", ["--tiny", "--sizes", "0"], "sizes must be integers >= 2, got 0"),
    ("bench", ["--tiny", "--sizes", "64", "--profile", "99"], "profile must be one of the benchmarked sizes [64]"),
    ("bench", ["--tiny", "--output_dir", "{tmp}/a_file"], "--output_dir {tmp}/a_file is a file, not a folder"),
    ("bench", ["--tiny", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    ("smoke", ["--steps", "0"], "--steps must be between 1 and 100000, got 0"),
    ("smoke", ["--steps", "1000000000"], "--steps must be between 1 and 100000, got 1000000000"),
    ("smoke", ["--output_dir", "{tmp}/bert"], "{tmp}/bert' already holds files that are not from `cogito smoke`"),
    ("smoke", ["--output_dir", "{tmp}/a_file"], "--output_dir {tmp}/a_file is a file, not a folder"),
    ("convert", ["{tmp}/nope", "{tmp}/out"], "{tmp}/nope is neither a local folder nor a downloadable Hub repo"),
    ("convert", ["{tmp}/emptydir", "{tmp}/out"], "emptydir has no config.json"),
    ("convert", ["{tmp}/bert", "{tmp}/a_file"], "a_file already exists and is not an empty folder"),
    ("generate", ["--model_name_or_path", "{tmp}/bert"], "the following arguments are required: --text"),
    ("generate", ["--model_name_or_path", "{tmp}/nope", "--text", "a [MASK]"], "{tmp}/nope: no such folder"),
    ("generate", ["--model_name_or_path", "m", "--text", "a [MASK]", "--temperature", "inf"], "finite number >= 0"),
    ("generate", ["--model_name_or_path", "m", "--text", "a [MASK]", "--temperature", "nan"], "got nan"),
    ("generate", ["--model_name_or_path", "m", "--text", "a [MASK]", "--steps", "10000000"], "between 1 and 10000"),
    ("generate", ["--model_name_or_path", "{tmp}/bert", "--text", "a [MASK]"], "is not a saved Cogito model"),
    ("export", ["--model_name_or_path", "{tmp}/emptydir", "--output_file", "{tmp}/m.onnx"], "no config.json"),
    ("export", ["--model_name_or_path", "{tmp}/bert", "--output_file", "{tmp}/emptydir"], "emptydir is a folder"),
    ("export", ["--model_name_or_path", "{tmp}/bert", "--output_file", "{tmp}/m.onnx", "--head", "pooler"], "pooler"),
    (
        "export",
        ["--model_name_or_path", "{tmp}/custom", "--output_file", "{tmp}/m.onnx"],
        "'mystery' model that ships its own Python code",
    ),
]


@pytest.mark.parametrize(("command", "args", "message"), BAD_COMMANDS)
def test_bad_command_line_ends_with_one_line_and_exit_code_2(command, args, message, tmp_path, capsys):
    _files(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main([command, *args]) == 2
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith(f"cogito {command}: ")]
    assert len(errors) == 1 and errors[0].startswith(f"cogito {command}: error: "), err
    assert message.replace("{tmp}", str(tmp_path)) in errors[0], err
    assert "Traceback" not in out + err
    assert not (tmp_path / "run").exists()  # refused before anything was written
    assert sorted(p.name for p in (tmp_path / "oldrun").iterdir()) == ["cogito_run.json"]
    assert not (tmp_path / "code_ran").exists()  # no model folder's own code ran
    assert json.loads((tmp_path / "oldrun" / "cogito_run.json").read_text()) == _run_record()


def test_resume_refuses_a_flag_given_with_its_default_value_against_the_run():
    from cogito.cli.pretrain import given_flags
    from cogito.training.pretrain import DataArguments, ModelArguments, check_resume_matches
    from cogito.training.trainer import CogitoTrainingArguments

    training = CogitoTrainingArguments(output_dir="unused", report_to="none", use_cpu=True)
    given = given_flags(["--concept_num", str(ModelArguments().concept_num), "--output_dir", "x"])
    with pytest.raises(ValueError, match=f"--concept_num {ModelArguments().concept_num} \\(the run used 8\\)"):
        check_resume_matches(_run_record(), ModelArguments(), DataArguments(), training, given)
    model = ModelArguments()
    check_resume_matches(_run_record(), model, DataArguments(), training, given_flags(["--output_dir", "x"]))
    assert model.concept_num == 8


def test_abbreviated_flags_are_refused_so_no_token_escapes_redaction(capsys):
    assert main(["pretrain", "--dry-run", "--hub_tok", "hf_SECRET_abbrev"]) == 2
    assert "unrecognized arguments: --hub_tok" in capsys.readouterr().err


def test_valid_json_corpora_in_every_layout_datasets_reads_are_accepted(tmp_path):
    from cogito.cli.pretrain import check_text_file

    layouts = {
        "one_line_list.json": '[{"text": "a b"}, {"text": "c d"}]',
        "strings.json": '["hello world", "second line"]',
        "bom.jsonl": '\ufeff{"text": "a"}\n{"text": "b"}\n',
        "pretty_bom.json": '\ufeff[\n {"text": "a"},\n {"text": "b"}\n]\n',
        "leading_blank.json": '\n[\n {"text": "a"}\n]\n',
        "columns.json": '{"text": ["a", "b"]}',
    }
    for name, text in layouts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        check_text_file("--train_file", tmp_path / name)


def test_int32_labels_are_taken_as_class_ids():
    classifier = CogitoForSequenceClassification(tiny_config(num_labels=3)).eval()
    loss32 = classifier(_ids(), labels=torch.tensor([0, 2], dtype=torch.int32)).loss
    assert torch.equal(loss32, classifier(_ids(), labels=torch.tensor([0, 2])).loss)
    mlm = CogitoForMaskedLM(tiny_config()).eval()
    labels = torch.full((2, 6), -100).index_fill(1, torch.tensor([3]), 7)
    assert torch.equal(mlm(_ids(), labels=labels.int()).loss, mlm(_ids(), labels=labels).loss)


def test_resume_takes_the_runs_settings_for_flags_left_at_their_default():
    from cogito.training.pretrain import DataArguments, ModelArguments, check_resume_matches
    from cogito.training.trainer import CogitoTrainingArguments

    model, data = ModelArguments(), DataArguments(max_train_samples=100)
    training = CogitoTrainingArguments(output_dir="unused", report_to="none", use_cpu=True)
    check_resume_matches(_run_record(), model, data, training)
    assert model.concept_num == 8 and data.max_seq_length == 64  # adopted from the run
    assert data.max_train_samples == 100  # how much data is read may change on resume
    assert (training.concept_losses, training.loss_weighting, training.loss_weight) == ("orthogonality", "fixed", 0.1)
    assert (training.learning_rate, training.lr_scheduler_type, training.per_device_train_batch_size) == (
        1e-3,
        "constant",
        4,
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"learning_rate": 0.5}, "--learning_rate 0.5 (the run used 0.001)"),
        ({"learning_rate": 5e-5}, "--learning_rate 5e-05 (the run used 0.001)"),  # the default, but given
        ({"per_device_train_batch_size": 2}, "--per_device_train_batch_size 2 (the run used 4)"),
    ],
)
def test_resume_refuses_training_settings_given_against_the_run(setting, message):
    from cogito.training.pretrain import DataArguments, ModelArguments, check_resume_matches
    from cogito.training.trainer import CogitoTrainingArguments

    training = CogitoTrainingArguments(output_dir="unused", report_to="none", use_cpu=True, **setting)
    with pytest.raises(ValueError, match=re.escape(message)):
        check_resume_matches(_run_record(), ModelArguments(), DataArguments(), training, given=set(setting))


def test_dry_run_never_prints_the_hub_token(capsys):
    assert main(["pretrain", "--dry-run", "--hub_token", "hf_SECRET_value_123"]) == 0
    out, err = capsys.readouterr()
    assert "hf_SECRET_value_123" not in out + err
    assert json.loads(out[out.index("{") :])["training"]["hub_token"] == "<redacted>"


def test_the_command_line_w_and_b_records_has_no_token():
    from cogito.cli.pretrain import redact_argv

    argv = ["cogito", "--hub_token", "hf_A", "--learning_rate", "1e-3", "--hub_token=hf_B", "--other_token", "x"]
    assert redact_argv(argv) == [
        "cogito",
        "--hub_token",
        "<redacted>",
        "--learning_rate",
        "1e-3",
        "--hub_token=<redacted>",
        "--other_token",
        "<redacted>",
    ]


def test_push_refuses_a_symlink_out_of_the_model_folder(tmp_path, tiny_tokenizer):
    from cogito.hub_cards.push import check_model_dir

    folder = _saved(tmp_path)
    tiny_tokenizer.save_pretrained(folder)
    check_model_dir(folder)  # the folder itself is publishable
    name = "vocab.txt" if (folder / "vocab.txt").is_file() else "tokenizer.json"
    (folder / name).unlink()
    secret = tmp_path / "secret.txt"
    secret.write_text("[PAD]\nprivate\n")
    (folder / name).symlink_to(secret)
    with pytest.raises(ValueError, match=f"{name} is a symbolic link or resolves outside"):
        check_model_dir(folder)


def test_a_finished_runs_row_that_cannot_be_written_is_printed_not_lost(tmp_path, capsys):
    from cogito.cli.pretrain import log_missing_row
    from cogito.training.pretrain import DataArguments, ExperimentArguments, ModelArguments
    from cogito.training.trainer import CogitoTrainingArguments

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"hidden_size": 32, "num_hidden_layers": 2, "concept_num": 8}))
    (run / "cogito_summary.json").write_text(
        json.dumps({"run_id": "r1", "output_dir": str(run), "metrics": {"eval_loss": 3.21}})
    )
    (tmp_path / "a_file").write_text("not a folder")
    training = CogitoTrainingArguments(output_dir=str(run), report_to="none", use_cpu=True)
    experiment = ExperimentArguments(experiment_log=str(tmp_path / "a_file" / "log.md"))  # cannot be created
    log_missing_row(run / "cogito_summary.json", ModelArguments(), DataArguments(), training, experiment)
    err = capsys.readouterr().err
    assert "warning: the run finished but its row could not be added" in err
    assert "Add the row by hand: | " in err and "| `r1` | H32 L2 C8 |" in err and "| 3.210 |" in err


def test_safetensors_files_are_checked_whole_before_loading(tmp_path):
    import struct

    from cogito._io import check_safetensors

    folder = _saved(tmp_path)
    check_safetensors(folder / "model.safetensors")  # a real file passes
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}}).encode()
    (tmp_path / "crafted.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(ValueError, match="crafted.safetensors is not a complete safetensors file"):
        check_safetensors(tmp_path / "crafted.safetensors")
    data = (folder / "model.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-10])
    with pytest.raises(ValueError, match=f"it is {len(data) - 10} bytes but its tensors need {len(data)}"):
        check_safetensors(tmp_path / "cut.safetensors")


def test_a_resumed_run_keeps_its_length_unless_a_length_flag_is_given():
    from cogito.training.pretrain import resumed_run_length
    from cogito.training.trainer import CogitoTrainingArguments

    recorded = {"max_steps": 20, "num_train_epochs": 3.0}
    plain = CogitoTrainingArguments(output_dir="unused", report_to="none", use_cpu=True)
    assert resumed_run_length(recorded, plain, given={"output_dir"}) == (20, 3.0)
    further = CogitoTrainingArguments(output_dir="unused", report_to="none", use_cpu=True, max_steps=30)
    assert resumed_run_length(recorded, further, given={"max_steps"}) == (30, 3.0)
    epochs = CogitoTrainingArguments(output_dir="unused", report_to="none", use_cpu=True, num_train_epochs=5)
    assert resumed_run_length(recorded, epochs, given={"num_train_epochs"}) == (-1, 5)  # epochs replace steps
    assert resumed_run_length({}, plain, given=set()) == (-1, 3.0)  # a run file from before lengths were kept
