"""Judging a model: metrics and the report files (metrics.json, per-class CSV, confusion matrix,
misclassified grid, curves), their plots, and evaluating any logged model on any data."""
