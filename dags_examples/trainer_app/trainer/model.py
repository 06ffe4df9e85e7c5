"""A one-hidden-layer MLP binary classifier in plain numpy, trained by full-batch gradient descent."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

Params = dict[str, np.ndarray]


def init_params(n_inputs: int, hidden_units: int, seed: int = 0) -> Params:
    rng = np.random.default_rng(seed)
    return {
        "w1": rng.normal(0, 1 / np.sqrt(n_inputs), size=(n_inputs, hidden_units)),
        "b1": np.zeros(hidden_units),
        "w2": rng.normal(0, 1 / np.sqrt(hidden_units), size=hidden_units),
        "b2": np.zeros(1),
    }


def _forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hidden = np.tanh(x @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"] + params["b2"][0]
    return hidden, 1 / (1 + np.exp(-np.clip(logits, -30, 30)))


def predict_proba(params: Params, x: np.ndarray) -> np.ndarray:
    return _forward(params, x)[1]


def accuracy(params: Params, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((predict_proba(params, x) >= 0.5) == (y >= 0.5)))


def log_loss(params: Params, x: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(predict_proba(params, x), 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train_steps(params: Params, x: np.ndarray, y: np.ndarray, *, learning_rate: float, l2: float,
                steps: int) -> Params:
    """``steps`` gradient-descent steps on mean log loss + l2 * ||w||^2 / 2; returns new params."""
    p = {k: v.copy() for k, v in params.items()}
    n = len(y)
    for _ in range(steps):
        hidden, prob = _forward(p, x)
        d_logits = (prob - y) / n
        grad_w2 = hidden.T @ d_logits + l2 * p["w2"]
        grad_b2 = np.array([d_logits.sum()])
        d_hidden = np.outer(d_logits, p["w2"]) * (1 - hidden**2)
        grad_w1 = x.T @ d_hidden + l2 * p["w1"]
        grad_b1 = d_hidden.sum(axis=0)
        p["w1"] -= learning_rate * grad_w1
        p["b1"] -= learning_rate * grad_b1
        p["w2"] -= learning_rate * grad_w2
        p["b2"] -= learning_rate * grad_b2
    return p


def to_npz(params: Params, **extra: np.ndarray) -> bytes:
    buf = io.BytesIO()
    arrays: dict[str, Any] = {**params, **extra}
    np.savez(buf, **arrays)
    return buf.getvalue()


def from_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data)) as npz:
        return {k: npz[k] for k in npz.files}
