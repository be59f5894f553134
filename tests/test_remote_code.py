"""A saved folder must work on its own: Auto classes and pipelines with `trust_remote_code`,
in a fresh process where the `cogito` package cannot be imported and the Hub is offline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import tiny_config

from cogito import CogitoForMaskedLM, CogitoForSequenceClassification, CogitoModel

CHILD = textwrap.dedent(
    """
    import sys
    sys.modules["cogito"] = None  # the package must not be needed: `import cogito` now fails
    import torch
    from transformers import (AutoConfig, AutoModel, AutoModelForMaskedLM,
                              AutoModelForSequenceClassification, pipeline)

    mlm_folder, classifier_folder, expected_path = sys.argv[1:4]
    expected = torch.load(expected_path)
    inputs = expected["inputs"]

    config = AutoConfig.from_pretrained(mlm_folder, trust_remote_code=True)
    assert type(config).__name__ == "CogitoConfig", type(config)
    assert type(config).__module__.startswith("transformers_modules"), type(config).__module__

    checks = [
        (AutoModel, mlm_folder, "last_hidden_state", "concepts"),
        (AutoModelForMaskedLM, mlm_folder, "logits", "mlm_logits"),
        (AutoModelForSequenceClassification, classifier_folder, "logits", "classifier_logits"),
    ]
    for auto_class, folder, field, key in checks:
        model = auto_class.from_pretrained(folder, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            got = getattr(model(**inputs), field)
        torch.testing.assert_close(got, expected[key], rtol=1e-5, atol=1e-5)
        print(f"{auto_class.__name__}: {type(model).__name__} {tuple(got.shape)} matches")

    fill = pipeline("fill-mask", model=mlm_folder, trust_remote_code=True, top_k=3)
    predictions = fill("paris is the capital of [MASK] .")
    assert len(predictions) == 3, predictions
    assert all(p["sequence"].startswith("paris is the capital of") for p in predictions), predictions
    assert predictions[0]["score"] >= predictions[-1]["score"]
    print("fill-mask:", [(p["token_str"], round(p["score"], 4)) for p in predictions])
    print("OK")
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("decoder_type", ["weighted", "perceiver", "perceiver_posonly"])
def test_saved_folder_loads_in_a_fresh_process_without_the_package(tmp_path, tiny_tokenizer, decoder_type):
    config = tiny_config(decoder_type=decoder_type, classifier_pooling="via_decoder", num_labels=3)
    torch.manual_seed(0)
    mlm = CogitoForMaskedLM(config).eval()
    mlm_folder, classifier_folder = tmp_path / "mlm", tmp_path / "classifier"
    mlm.save_pretrained(mlm_folder)
    tiny_tokenizer.save_pretrained(mlm_folder)
    classifier = CogitoForSequenceClassification.from_pretrained(mlm_folder).eval()
    classifier.save_pretrained(classifier_folder)

    inputs = dict(tiny_tokenizer(["the house of his sister", "paris is a city"], padding=True, return_tensors="pt"))
    inputs.pop("token_type_ids", None)
    with torch.no_grad():
        expected = {
            "inputs": inputs,
            "concepts": CogitoModel.from_pretrained(mlm_folder).eval()(**inputs).last_hidden_state,
            "mlm_logits": mlm(**inputs).logits,
            "classifier_logits": classifier(**inputs).logits,
        }
    torch.save(expected, tmp_path / "expected.pt")

    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(mlm_folder), str(classifier_folder), str(tmp_path / "expected.pt")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")
    assert "AutoModelForSequenceClassification: CogitoForSequenceClassification" in result.stdout


def test_fill_mask_pipeline_fills_the_mask_in_process(tmp_path, tiny_tokenizer):
    from transformers import pipeline

    model = CogitoForMaskedLM(tiny_config())
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    fill = pipeline("fill-mask", model=str(tmp_path), trust_remote_code=True, top_k=5)
    predictions = fill("the [MASK] of france")
    assert len(predictions) == 5
    assert {p["token_str"] for p in predictions} <= set(tiny_tokenizer.get_vocab())
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0 + 1e-6
