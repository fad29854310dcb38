"""tempmodels."""
