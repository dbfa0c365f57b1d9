"""Sequence models over the hourly grid of a stay: GRU-D and a small attention encoder.

Why an hourly grid: the series are irregular (a heart rate every few minutes, a lactate once a
day). GRU-D (Che et al., Sci Rep 2018) reads, per hour and parameter, the last value, an
observation mask and the time since the parameter was last seen, and decays its input towards
the mean as that time grows: missingness is modelled, not imputed away. The attention model
reads the same (value, mask, time since last) per hour as tokens with an hour embedding.
They are compared with boosting under the same folds in ``engine.icu.train``.

Why they are cheap (a few minutes per fold on 2 CPU threads): the grid is built once for all
stays with array operations; GRU-D's input decay does not depend on the hidden state, so it is
computed for all 48 hours at once and the recurrence runs in torch's fused ``nn.GRU`` (the time
since the last value is an input to it, which stands in for GRU-D's hidden-state decay: that
decay needs a Python loop over the hours, which cost about 20x the training time here). Training
stops early on an inner validation split of the training stays.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from engine.icu.parameters import SERIES
from engine.icu.records import Stay
from engine.models.metrics import auroc

HOURS = 48


def build_grid(stays: Sequence[Stay], horizon: int | Sequence[float] = HOURS,
               hours: int = HOURS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per stay: values (last in each hour), mask (1 = measured that hour), delta (hours since last seen).

    Shapes (n, ``hours``, len(SERIES)); values are raw (standardise with :func:`standardise`). Data after
    ``horizon`` (one hour for all stays, or one per stay) is not used, so a grid at hour 20 shows what
    was known at hour 20. Delta counts from the start of the stay for a parameter not yet seen.
    """
    index = {p: j for j, p in enumerate(SERIES)}
    n, t, p = len(stays), hours, len(SERIES)
    hz = np.broadcast_to(np.asarray(horizon, dtype=float), (n,))
    rows, steps, cols, vals = [], [], [], []
    for i, stay in enumerate(stays):
        s = stay.series
        if not len(s):
            continue
        h = s["hours"].to_numpy(dtype=float)
        c = s["parameter"].map(index).to_numpy(dtype=float)
        ok = (h <= hz[i]) & ~np.isnan(c)
        rows.append(np.full(int(ok.sum()), i))
        steps.append(np.minimum(np.floor(h[ok]).astype(int), t - 1))
        cols.append(c[ok].astype(int))
        vals.append(s["value"].to_numpy(dtype=np.float32)[ok])
    values = np.full((n, t, p), np.nan, dtype=np.float32)
    if rows:
        # series are sorted by time, so assigning in order leaves each hour's last value
        values[np.concatenate(rows), np.concatenate(steps), np.concatenate(cols)] = np.concatenate(vals)
    mask = (~np.isnan(values)).astype(np.float32)
    # hours since last seen: step index minus the index of the last observed step (cumulative max)
    step = np.arange(t, dtype=np.float32)[None, :, None]
    last_seen = np.maximum.accumulate(np.where(mask > 0, step, -1.0), axis=1)
    prev = np.concatenate([np.full((n, 1, p), -1.0, dtype=np.float32), last_seen[:, :-1]], axis=1)
    delta = np.where(prev >= 0, step - prev, step + 1.0).astype(np.float32)
    return values, mask, delta


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Last observed value carried forward along the hours (NaN before the first observation)."""
    n, t, p = values.shape
    idx = np.where(~np.isnan(values), np.arange(t)[None, :, None], 0)
    idx = np.maximum.accumulate(idx, axis=1)
    filled = np.take_along_axis(values, idx, axis=1)
    return filled


def standardise(values: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None):
    """Z-score per parameter (mean/std from training stays); missing stays NaN."""
    if mean is None:
        mean = np.nanmean(values, axis=(0, 1))
        std = np.nanstd(values, axis=(0, 1))
    mean = np.nan_to_num(mean)
    std = np.where(np.nan_to_num(std) > 0, np.nan_to_num(std), 1.0)
    return ((values - mean) / std).astype(np.float32), mean, std


def to_tensors(x: np.ndarray, m: np.ndarray, d: np.ndarray, s: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Model inputs from a standardised grid: (value, last value carried forward, mask, delta, static)."""
    last = np.nan_to_num(forward_fill(x))
    return (torch.from_numpy(np.nan_to_num(x)), torch.from_numpy(last.astype(np.float32)), torch.from_numpy(m),
            torch.from_numpy(d), torch.from_numpy(s))


class GRUD(nn.Module):
    """GRU-D: each input decays from its last value towards the mean (0 after z-scoring) as time since it grows."""

    def __init__(self, n_inputs: int, hidden: int = 32, static: int = 3):
        super().__init__()
        self.gamma_x = nn.Parameter(torch.full((n_inputs,), 0.1))
        self.gru = nn.GRU(n_inputs * 3, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(hidden + static, 1))

    def forward(self, x, last, m, d, s) -> torch.Tensor:
        decay = torch.exp(-torch.relu(self.gamma_x) * d)
        x_hat = m * x + (1 - m) * decay * last
        z, _ = self.gru(torch.cat([x_hat, m, torch.log1p(d) / 4], dim=2))
        return self.head(torch.cat([z[:, -1], s], dim=1)).squeeze(1)


class HourAttention(nn.Module):
    """A transformer encoder over hourly tokens (value carried forward, mask, delta) with a learned hour embedding."""

    def __init__(self, n_inputs: int, width: int = 32, static: int = 3, hours: int = HOURS):
        super().__init__()
        self.embed = nn.Linear(n_inputs * 3, width)
        self.position = nn.Parameter(torch.zeros(hours, width))
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.pool = nn.Linear(width, 1)  # attention pooling: which hours matter for this stay
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(width + static, 1))

    def forward(self, x, last, m, d, s):
        tokens = self.embed(torch.cat([last, m, torch.log1p(d) / 4], dim=2)) + self.position[: x.shape[1]]
        z = self.encoder(tokens)
        weights = torch.softmax(self.pool(z), dim=1)
        return self.head(torch.cat([(weights * z).sum(dim=1), s], dim=1)).squeeze(1)


def static_inputs(stays: Sequence[Stay]) -> np.ndarray:
    """Age (scaled), sex and a flag for missing age: what the sequence models see besides the series."""
    age = np.array([s.descriptors.get("Age", np.nan) for s in stays], dtype=np.float32)
    sex = np.array([s.descriptors.get("Gender", np.nan) for s in stays], dtype=np.float32)
    return np.stack([np.nan_to_num((age - 65) / 15), np.nan_to_num(sex, nan=0.5), np.isnan(age)], axis=1).astype(np.float32)


def _scores(model: nn.Module, tensors: tuple[torch.Tensor, ...], batch: int = 1024) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        n = len(tensors[0])
        return np.concatenate([torch.sigmoid(model(*(t[i:i + batch] for t in tensors))).numpy()
                               for i in range(0, n, batch)]) if n else np.zeros(0)


def fit_sequence_model(kind: str, x, m, d, s, y, *, epochs: int = 6, patience: int = 2, seed: int = 0,
                       threads: int = 2, batch: int = 256, inner_fraction: float = 0.15,
                       progress: Callable[[int, int, float], None] | None = None) -> nn.Module:
    """Train GRU-D (``kind='grud'``) or the attention model (``'attention'``); stop early on an inner split.

    ``x`` is the standardised grid. A stratified ``inner_fraction`` of the given stays is held out of the
    gradient steps; after each epoch its AUROC is measured, and the weights of the best epoch are kept
    (training stops after ``patience`` epochs without improvement, at most ``epochs``).
    """
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    y = np.asarray(y).astype(np.float32)
    rng = np.random.default_rng(seed)
    inner = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        inner[rng.choice(idx, max(1, int(round(inner_fraction * len(idx)))), replace=False)] = True
    tensors = to_tensors(x, m, d, s)
    train_t = tuple(t[torch.from_numpy(~inner)] for t in tensors)
    inner_t = tuple(t[torch.from_numpy(inner)] for t in tensors)
    y_train, y_inner = torch.from_numpy(y[~inner]), y[inner]
    model = GRUD(x.shape[2]) if kind == "grud" else HourAttention(x.shape[2])
    opt = torch.optim.Adam(model.parameters(), lr=5e-3, weight_decay=1e-4)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    best, best_state, waited = -1.0, None, 0
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(y_train), generator=gen).split(batch):
            opt.zero_grad()
            loss = loss_fn(model(*(t[idx] for t in train_t)), y_train[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        score = auroc(y_inner, _scores(model, inner_t))
        if progress:
            progress(epoch + 1, epochs, score)
        if score > best:
            best, waited = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model


def predict_sequence_model(model: nn.Module, x, m, d, s) -> np.ndarray:
    """Risk (uncalibrated) per stay from a standardised grid."""
    return _scores(model, to_tensors(x, m, d, s))
