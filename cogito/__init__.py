"""Cogito: concept encoders for Hugging Face transformers.

Importing the package registers the model with the Auto classes, so
`AutoModelForMaskedLM.from_config(CogitoConfig(...))` works, and marks the classes for
`trust_remote_code` export: `save_pretrained` copies the two model files next to the weights.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
)

from cogito.configuration_cogito import CogitoConfig, research_architecture
from cogito.modeling_cogito import (
    CogitoForMaskedLM,
    CogitoForSequenceClassification,
    CogitoModel,
    CogitoPreTrainedModel,
)

__version__ = "0.1.0"

AutoConfig.register(CogitoConfig.model_type, CogitoConfig, exist_ok=True)
for _auto_class, _model_class in (
    (AutoModel, CogitoModel),
    (AutoModelForMaskedLM, CogitoForMaskedLM),
    (AutoModelForSequenceClassification, CogitoForSequenceClassification),
):
    _auto_class.register(CogitoConfig, _model_class, exist_ok=True)
    _model_class.register_for_auto_class(_auto_class.__name__)
CogitoConfig.register_for_auto_class()

__all__ = [
    "CogitoConfig",
    "CogitoPreTrainedModel",
    "CogitoModel",
    "CogitoForMaskedLM",
    "CogitoForSequenceClassification",
    "research_architecture",
]
