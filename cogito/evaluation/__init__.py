"""Evaluation: concept geometry and its report, GLUE fine-tuning."""
