"""The clients users bring to a saved folder: sentence-transformers, MTEB, torch.export/ONNX,
`device_map="auto"`, the Trainer's metrics, `inputs_embeds`, PEFT LoRA.

Each client runs in a fresh process where `import cogito` fails and the Hub is offline: what it
sees is what a user who only has the folder (or its Hub copy) sees. The clients come with the
`clients` extra (requirements-pinned.txt); these tests are `slow` (a fresh process each).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file, save_file

from cogito import CogitoForMaskedLM, CogitoForSequenceClassification, CogitoModel
from cogito.configuration_cogito import check_transformers_version

# The sentence whose padded length equals concept_num (8): sentence-transformers' token pooling
# used to apply the token mask to the concept axis exactly then.
SHORT, LONG = "paris is a city", "the house of his sister is"
CLIENT_TIMEOUT_S = 600

_PRELUDE = """
import json, sys
sys.modules["cogito"] = None  # the folder must work without the package: `import cogito` now fails
folder, out_path = sys.argv[1:3]
results = {}
"""
_EPILOGUE = """
json.dump(results, open(out_path, "w"))
"""


def run_client(code: str, folder, tmp_path) -> dict:
    """Run `code` in a fresh offline process without `cogito`; return the `results` dict it fills."""
    out_path = tmp_path / "client_results.json"
    home = tmp_path / "hf_home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(
        HF_HOME=str(home),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        WANDB_MODE="disabled",
        MTEB_CACHE=str(tmp_path / "mteb_cache"),
        TOKENIZERS_PARALLELISM="false",
    )
    script = _PRELUDE + textwrap.dedent(code) + _EPILOGUE
    child = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(out_path)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
    )
    assert child.returncode == 0, (child.stdout + child.stderr)[-6000:]
    return json.loads(out_path.read_text())


@pytest.fixture(scope="module")
def mlm_folder(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("clients") / "mlm"
    torch.manual_seed(0)
    CogitoForMaskedLM(tiny_config(num_labels=3, classifier_pooling="via_decoder")).eval().save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    assert len(tiny_tokenizer(LONG)["input_ids"]) == tiny_config().concept_num
    return folder


@pytest.mark.slow
def test_sentence_transformers_embeds_a_sentence_alike_alone_and_in_any_batch(mlm_folder, tmp_path):
    results = run_client(
        f"""
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers import AutoModel, AutoTokenizer

        model = SentenceTransformer(folder, trust_remote_code=True, device="cpu")
        alone = model.encode([{SHORT!r}], convert_to_tensor=True)
        batch = model.encode([{SHORT!r}, {LONG!r}], convert_to_tensor=True)  # padded to N == C
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        encoder = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
        padded = tokenizer([{SHORT!r}, {LONG!r}], padding=True, return_tensors="pt")
        inputs = dict(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"])
        with torch.no_grad():
            concepts = encoder(**inputs).last_hidden_state
        results["padded_length"] = padded["input_ids"].shape[1]
        results["concept_num"] = encoder.config.concept_num
        results["max_diff_alone_vs_batch"] = (alone[0] - batch[0]).abs().max().item()
        results["cosine"] = torch.nn.functional.cosine_similarity(alone[0], batch[0], dim=0).item()
        results["max_diff_vs_concept_mean"] = (batch - concepts.mean(dim=1)).abs().max().item()
        results["dim"] = model.get_sentence_embedding_dimension()
        """,
        mlm_folder,
        tmp_path,
    )
    assert results["padded_length"] == results["concept_num"] == 8
    assert results["max_diff_alone_vs_batch"] < 1e-5, results
    assert results["cosine"] > 0.99999
    assert results["max_diff_vs_concept_mean"] < 1e-5
    assert results["dim"] == 32


@pytest.mark.slow
def test_sentence_transformers_fine_tunes_saves_and_reloads_the_same_model(mlm_folder, tmp_path):
    results = run_client(
        """
        import torch
        from datasets import Dataset
        from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
        from sentence_transformers import SentenceTransformerTrainingArguments, losses

        torch.manual_seed(0)
        model = SentenceTransformer(folder, trust_remote_code=True, device="cpu")
        sentences = ["paris is a city", "the house of his sister", "a letter to her sister", "the river of france"]
        before = model.encode(sentences, convert_to_tensor=True)
        data = Dataset.from_dict({"anchor": sentences * 4, "positive": sentences[1:] * 4 + sentences[:1] * 4})
        args = SentenceTransformerTrainingArguments(
            output_dir=sys.argv[2] + ".run", max_steps=4, per_device_train_batch_size=4, learning_rate=1e-2,
            report_to=[], save_strategy="no", use_cpu=True, seed=0,
        )
        SentenceTransformerTrainer(
            model=model, args=args, train_dataset=data, loss=losses.MultipleNegativesRankingLoss(model)
        ).train()
        after = model.encode(sentences, convert_to_tensor=True)
        saved = sys.argv[2] + ".model"
        model.save(saved)
        reloaded = SentenceTransformer(saved, trust_remote_code=True, device="cpu").encode(
            sentences, convert_to_tensor=True
        )
        results["changed"] = (after - before).abs().max().item()
        results["reload_diff"] = (reloaded - after).abs().max().item()
        """,
        mlm_folder,
        tmp_path,
    )
    assert results["changed"] > 1e-3, results
    assert results["reload_diff"] < 1e-5, results


@pytest.mark.slow
def test_mteb_mock_sts_and_classification_run_on_the_folder(mlm_folder, tmp_path):
    results = run_client(
        """
        import math
        import mteb
        from mteb.mocks.mock_tasks.classification import MockClassificationTask
        from mteb.mocks.mock_tasks.sts import MockSTSTask
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(folder, trust_remote_code=True, device="cpu")
        outcome = mteb.evaluate(model, tasks=[MockSTSTask(), MockClassificationTask()], cache=None)
        for task_result in outcome.task_results:
            results[task_result.task_name] = task_result.get_score()
        assert all(math.isfinite(score) for score in results.values()), results
        """,
        mlm_folder,
        tmp_path,
    )
    assert set(results) == {"MockSTSTask", "MockClassificationTask"}, results
    assert all(-1.0 <= score <= 1.0 for score in results.values()), results


@pytest.mark.slow
def test_torch_export_onnx_and_compile_match_eager_on_padded_and_unpadded_batches(mlm_folder, tmp_path):
    results = run_client(
        """
        import numpy as np
        import onnxruntime
        import torch
        from transformers import AutoModelForMaskedLM

        model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()

        class Logits(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

        wrapped = Logits(model).eval()
        batch, length = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("length", min=2, max=64)
        example = (torch.randint(5, 100, (2, 7)), torch.ones(2, 7, dtype=torch.long))
        dynamic = {"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}}
        exported = torch.export.export(wrapped, example, dynamic_shapes=dynamic)
        onnx_path = sys.argv[2] + ".onnx"
        names = ["input_ids", "attention_mask"]
        torch.onnx.export(wrapped, example, onnx_path, dynamic_shapes=dynamic, input_names=names)
        session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        compiled = torch.compile(wrapped, fullgraph=True, dynamic=True)

        unpadded = (torch.randint(5, 100, (3, 11)), torch.ones(3, 11, dtype=torch.long))
        mask = torch.ones(4, 13, dtype=torch.long)
        mask[1, 6:] = 0
        mask[3, 2:] = 0
        padded = (torch.randint(5, 100, (4, 13)), mask)
        for name, (ids, attention) in {"unpadded": unpadded, "padded": padded}.items():
            with torch.no_grad():
                want = wrapped(ids, attention)
                got_export = exported.module()(ids, attention)
                got_compiled = compiled(ids, attention)
            got_onnx = session.run(None, {"input_ids": ids.numpy(), "attention_mask": attention.numpy()})[0]
            results[name] = {
                "export": (got_export - want).abs().max().item(),
                "compile": (got_compiled - want).abs().max().item(),
                "onnx": float(np.abs(got_onnx - want.numpy()).max()),
            }
        # the mask is honoured: padding changes nothing of the real tokens' outputs
        with torch.no_grad():
            short = wrapped(padded[0][1:2, :6], torch.ones(1, 6, dtype=torch.long))
        got = session.run(None, {"input_ids": padded[0].numpy(), "attention_mask": mask.numpy()})[0][1, :6]
        results["padding_invariance"] = float(np.abs(got - short[0].numpy()).max())
        """,
        mlm_folder,
        tmp_path,
    )
    for name in ("unpadded", "padded"):
        for runtime, diff in results[name].items():
            assert diff < 1e-4, (name, runtime, diff)
    assert results["padding_invariance"] < 1e-4, results


@pytest.mark.slow
def test_device_map_auto_loads_every_head_and_the_fill_mask_pipeline(mlm_folder, tmp_path):
    results = run_client(
        """
        import torch
        import transformers
        from transformers import pipeline

        ids = torch.tensor([[2, 40, 41, 4, 3]])
        for name in ("AutoModel", "AutoModelForMaskedLM", "AutoModelForSequenceClassification"):
            model = getattr(transformers, name).from_pretrained(folder, trust_remote_code=True, device_map="auto")
            with torch.no_grad():
                output = model(input_ids=ids)[0]
            results[name] = [sorted({str(p.device) for p in model.parameters()}), bool(torch.isfinite(output).all())]
        fill = pipeline("fill-mask", model=folder, trust_remote_code=True, device_map="auto", top_k=3)
        results["fill"] = [p["sequence"] for p in fill("paris is the capital of [MASK] .")]
        mlm = transformers.AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True, device_map="auto")
        results["tied"] = mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight
        """,
        mlm_folder,
        tmp_path,
    )
    for name in ("AutoModel", "AutoModelForMaskedLM", "AutoModelForSequenceClassification"):
        assert results[name] == [["cpu"], True], results
    assert len(results["fill"]) == 3 and all(s.startswith("paris is the capital of") for s in results["fill"])
    assert results["tied"] is True


@pytest.mark.slow
def test_trainer_predict_gives_logits_that_argmax_metrics_read(mlm_folder, tmp_path):
    results = run_client(
        """
        import numpy as np
        import torch
        from datasets import Dataset
        from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer
        from transformers import DataCollatorForLanguageModeling, DataCollatorWithPadding, Trainer, TrainingArguments

        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        texts = ["paris is a city", "the house of his sister", "a letter to her sister is long", "the river"] * 3
        args = TrainingArguments(
            output_dir=sys.argv[2] + ".run", report_to=[], per_device_eval_batch_size=4, use_cpu=True
        )

        # classification, as in the course: np.argmax over predict()'s logits
        data = Dataset.from_dict({"text": texts, "label": [0, 1, 2, 1] * 3}).map(
            lambda row: tokenizer(row["text"]), remove_columns=["text"]
        )
        classifier = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True, num_labels=3)

        def accuracy(eval_pred):
            logits, labels = eval_pred
            return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}

        trainer = Trainer(
            model=classifier, args=args, data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy
        )
        prediction = trainer.predict(data)
        results["clf_predictions_shape"] = list(np.shape(prediction.predictions))
        results["clf_accuracy"] = prediction.metrics["test_accuracy"]

        # masked-LM, as run_mlm.py: argmax predictions aligned with the labels
        mlm = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True)
        mlm_data = Dataset.from_dict({"text": texts}).map(lambda row: tokenizer(row["text"]), remove_columns=["text"])

        def mlm_accuracy(eval_pred):
            predictions, labels = eval_pred
            labels, predictions = labels.reshape(-1), predictions.reshape(-1)
            mask = labels != -100
            return {"accuracy": float((predictions[mask] == labels[mask]).mean()), "count": int(mask.sum())}

        torch.manual_seed(0)
        trainer = Trainer(
            model=mlm, args=args, compute_metrics=mlm_accuracy,
            data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.5, seed=0),
            preprocess_logits_for_metrics=mlm.preprocess_logits_for_metrics,
        )
        metrics = trainer.evaluate(mlm_data)
        results["mlm_accuracy"] = metrics["eval_accuracy"]
        results["mlm_count"] = metrics["eval_count"]
        results["mlm_loss"] = metrics["eval_loss"]
        """,
        mlm_folder,
        tmp_path,
    )
    assert results["clf_predictions_shape"] == [12, 3], results
    assert 0.0 <= results["clf_accuracy"] <= 1.0
    assert results["mlm_count"] > 0 and 0.0 <= results["mlm_accuracy"] <= 1.0, results
    assert results["mlm_loss"] > 0


@pytest.mark.slow
def test_inputs_embeds_match_input_ids_on_every_head_and_lora_fine_tunes(mlm_folder, tmp_path):
    results = run_client(
        """
        import torch
        import transformers
        from peft import LoraConfig, get_peft_model
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        batch = tokenizer(["paris is a city", "the house of his sister"], padding=True, return_tensors="pt")
        ids, mask = batch["input_ids"], batch["attention_mask"]
        fields = {"AutoModel": "last_hidden_state", "AutoModelForMaskedLM": "logits",
                  "AutoModelForSequenceClassification": "logits"}
        for name, field in fields.items():
            model = getattr(transformers, name).from_pretrained(folder, trust_remote_code=True).eval()
            embeds = model.get_input_embeddings()(ids)
            with torch.no_grad():
                by_ids = getattr(model(input_ids=ids, attention_mask=mask), field)
                by_embeds = getattr(model(inputs_embeds=embeds, attention_mask=mask), field)
            results[name] = (by_ids - by_embeds).abs().max().item()
            errors = []
            for kwargs in ({"input_ids": ids, "inputs_embeds": embeds}, {}):
                try:
                    model(attention_mask=mask, **kwargs)
                except ValueError as error:
                    errors.append(str(error))
            results[name + " errors"] = errors

        # token-level features beside the concept states
        mlm = transformers.AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
        with torch.no_grad():
            out = mlm(input_ids=ids, attention_mask=mask)
        results["token_states"] = list(out.token_states.shape)
        results["concept_states"] = list(out.concept_states.shape)

        # LoRA on the classifier's attention projections
        torch.manual_seed(0)
        classifier = transformers.AutoModelForSequenceClassification.from_pretrained(
            folder, trust_remote_code=True, num_labels=2
        )
        lora = get_peft_model(
            classifier, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
        )
        trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
        frozen_before = {n: p.detach().clone() for n, p in lora.named_parameters() if not p.requires_grad}
        optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=1e-2)
        labels = torch.tensor([0, 1])
        losses = []
        for _ in range(15):
            loss = lora(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        results["lora_trainable"] = trainable
        results["lora_losses"] = [losses[0], losses[-1]]
        results["frozen_unchanged"] = all(
            torch.equal(p, frozen_before[n]) for n, p in lora.named_parameters() if n in frozen_before
        )
        """,
        mlm_folder,
        tmp_path,
    )
    for name in ("AutoModel", "AutoModelForMaskedLM", "AutoModelForSequenceClassification"):
        assert results[name] < 1e-5, (name, results[name])
        both, neither = results[name + " errors"]
        assert "exactly one of input_ids" in both and "got both" in both
        assert "got neither" in neither
    assert results["token_states"][:2] == results["concept_states"][:1] + [results["token_states"][1]]
    assert results["token_states"][2] == 32 and results["concept_states"][1:] == [8, 32]
    assert any("lora_A" in n for n in results["lora_trainable"]) and any(
        "classifier" in n for n in results["lora_trainable"]
    )
    assert not any("concepts" == n.rsplit(".", 1)[-1] for n in results["lora_trainable"])
    assert results["lora_losses"][1] < results["lora_losses"][0], results["lora_losses"]
    assert results["frozen_unchanged"]


@pytest.mark.slow
def test_cogito_export_writes_an_onnx_graph_that_matches_torch(mlm_folder, tmp_path, capsys):
    from cogito.cli.export import cli_main

    out = tmp_path / "model.onnx"
    assert cli_main(["--model_name_or_path", str(mlm_folder), "--output_file", str(out), "--head", "encoder"]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and "padded max |onnx - torch|" in printed, printed
    assert cli_main(["--folder", str(mlm_folder), "--out", str(out), "--head", "pooler"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("cogito export: error:") and "'pooler'" in error and "encoder" in error, error


def test_checkpoints_with_the_former_lm_head_key_still_load(tmp_path):
    torch.manual_seed(0)
    model = CogitoForMaskedLM(tiny_config(tie_word_embeddings=False)).eval()
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    assert "lm_head.projection.weight" in weights
    legacy = {k.replace("lm_head.projection.", "lm_head.decoder."): v for k, v in weights.items()}
    save_file(legacy, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded = CogitoForMaskedLM.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.lm_head.projection.weight, model.lm_head.projection.weight)
    ids = torch.randint(5, 100, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits)


def test_saved_folders_carry_a_sentence_transformers_configuration(tmp_path):
    for head in (CogitoModel, CogitoForMaskedLM, CogitoForSequenceClassification):
        folder = tmp_path / head.__name__
        head(tiny_config()).save_pretrained(folder)
        modules = json.loads((folder / "modules.json").read_text())
        assert modules[0]["type"].endswith("Transformer") and modules[0]["path"] == ""
        st_config = json.loads((folder / "sentence_bert_config.json").read_text())
        assert st_config["modality_config"]["text"]["method_output_name"] == "pooler_output"
        assert st_config["module_output_name"] == "sentence_embedding"
        assert (folder / "config_sentence_transformers.json").exists()


def test_an_old_transformers_is_refused_with_the_version_needed():
    check_transformers_version("5.23.0")
    with pytest.raises(ImportError, match=r"need transformers>=5\.0\.0; this environment has transformers 4\.57\.1"):
        check_transformers_version("4.57.1")


def test_export_refuses_an_unknown_head_or_a_path_that_is_not_a_saved_folder(tmp_path):
    from cogito.hub_cards.export import ExportError, export_onnx

    with pytest.raises(ExportError, match="head must be one of masked-lm, encoder; got 'pooler'"):
        export_onnx(tmp_path, tmp_path / "m.onnx", head="pooler")
    with pytest.raises(ExportError, match="is not a saved model folder"):
        export_onnx(tmp_path / "missing", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_cogito_export_writes_one_self_contained_onnx_file(mlm_folder, tmp_path, capsys):
    import onnxruntime

    from cogito.cli import main

    out = tmp_path / "graph" / "model.onnx"
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "model.onnx.data").write_bytes(b"stale weights of an earlier export")
    assert main(["export", "--model_name_or_path", str(mlm_folder), "--output_file", str(out)]) == 0
    assert f"wrote {out} (unpadded max |onnx - torch|" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.onnx"]  # the graph carries its weights
    moved = tmp_path / "elsewhere.onnx"
    out.rename(moved)
    session = onnxruntime.InferenceSession(str(moved), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask"]
