"""A saved folder must work on its own: Auto classes and pipelines with `trust_remote_code`,
in a fresh process where the `cogito` package cannot be imported and the Hub is offline."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_config

from cogito import CogitoForMaskedLM, CogitoForSequenceClassification, CogitoModel
from cogito.configuration_cogito import DECODER_TYPES
from cogito.hub_cards.verify import VerificationError, verify_folder


@pytest.mark.slow
@pytest.mark.parametrize("decoder_type", DECODER_TYPES)
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
            "AutoModel": CogitoModel.from_pretrained(mlm_folder).eval()(**inputs).last_hidden_state,
            "AutoModelForMaskedLM": mlm(**inputs).logits,
            "AutoModelForSequenceClassification": classifier(**inputs).logits,
        }

    # The MLM folder (with its tokenizer, so fill-mask runs too), then the classifier folder.
    seen = verify_folder(
        mlm_folder,
        inputs=inputs,
        sentence="paris is the capital of {mask} .",
        auto_classes=("AutoModel", "AutoModelForMaskedLM"),
    )
    seen_classifier = verify_folder(
        classifier_folder, inputs=inputs, auto_classes=("AutoModelForSequenceClassification",), fill_mask=False
    )
    outputs = {**seen.outputs, **seen_classifier.outputs}
    classes = {**seen.classes, **seen_classifier.classes}
    for name, want in expected.items():
        assert classes[name].startswith("transformers_modules"), classes[name]
        torch.testing.assert_close(outputs[name], want, rtol=1e-5, atol=1e-5)
    assert classes["AutoModelForSequenceClassification"].endswith(".CogitoForSequenceClassification")
    assert seen.report.endswith("OK") and "fill-mask:" in seen.report
    predictions = seen.fill_mask
    assert len(predictions) == 3, predictions
    assert all(p["sequence"].startswith("paris is the capital of") for p in predictions), predictions
    assert predictions[0]["score"] >= predictions[-1]["score"]


def test_verifier_fails_loudly_when_the_folder_needs_the_package(tmp_path, tiny_tokenizer):
    model = CogitoForMaskedLM(tiny_config())
    model.save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    code = tmp_path / "modeling_cogito.py"
    code.write_text("import cogito  # the Hub copy must not need the package\n" + code.read_text())
    with pytest.raises(
        VerificationError, match="(?s)does not load without the cogito package.*import of cogito halted"
    ):
        verify_folder(tmp_path, auto_classes=("AutoModelForMaskedLM",), fill_mask=False)


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
