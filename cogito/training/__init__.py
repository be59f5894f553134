"""Training: concept regularisers and weighting, the Trainer, pretraining and its recipes."""
