"""GLUE: the task table, data loading and metrics (tasks), fine-tuning and heads (run)."""
