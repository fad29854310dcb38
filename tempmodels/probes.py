"""Linear probes: how much of a label (speaker, …) is linearly decodable from TR embeddings."""
from __future__ import annotations

import numpy as np


def linear_probe_predictions(train_emb, train_labels, test_emb, test_labels=None, C: float = 1.0) -> np.ndarray:
    """Fit a logistic regression (standardised inputs) on train embeddings; predict the test labels."""
    from sklearn.linear_model import LogisticRegression  # imported here: 3 s that a training process never needs
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_emb, test_emb = np.asarray(train_emb), np.asarray(test_emb)
    train_labels = np.asarray(train_labels)
    if train_emb.ndim != 2 or test_emb.ndim != 2 or train_emb.shape[1] != test_emb.shape[1]:
        raise ValueError(f"embeddings must be (n, d) with equal d, got {train_emb.shape} and {test_emb.shape}")
    if len(train_emb) != len(train_labels) or (test_labels is not None and len(test_emb) != len(test_labels)):
        raise ValueError("one label per embedding is required")
    if len(np.unique(train_labels)) < 2:
        raise ValueError("the probe needs at least two classes in the training labels")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    clf.fit(train_emb, train_labels)
    return clf.predict(test_emb)


def linear_probe_accuracy(train_emb, train_labels, test_emb, test_labels, C: float = 1.0) -> float:
    """Fit a logistic regression on train embeddings, return accuracy on test embeddings."""
    pred = linear_probe_predictions(train_emb, train_labels, test_emb, test_labels, C)
    return float((pred == np.asarray(test_labels)).mean())
