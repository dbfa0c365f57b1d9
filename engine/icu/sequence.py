"""Sequence models over the hourly grid of a stay: GRU-D and a small attention encoder.

Why an hourly grid: the series are irregular (a heart rate every few minutes, a lactate once a
day). GRU-D (Che et al., Sci Rep 2018) reads, per hour and parameter, the last value, an
observation mask and the time since the parameter was last seen, and decays both its input and
its hidden state towards the mean as that time grows: missingness is modelled, not imputed away.
The attention model reads the same (value, mask, delta) per hour as tokens with a time embedding.
They are compared with boosting under the same folds in ``engine.icu.train``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from engine.icu.parameters import SERIES
from engine.icu.records import Stay

HOURS = 48


def build_grid(stays: Sequence[Stay], horizon: int = HOURS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per stay: values (last in each hour), mask (1 = measured that hour), delta (hours since last seen).

    Shapes (n, horizon, len(SERIES)); values are raw (standardise with :func:`standardise`).
    """
    index = {p: j for j, p in enumerate(SERIES)}
    n, t, p = len(stays), horizon, len(SERIES)
    values = np.full((n, t, p), np.nan, dtype=np.float32)
    for i, stay in enumerate(stays):
        s = stay.series
        if not len(s):
            continue
        hour = np.minimum(np.floor(s["hours"].to_numpy()).astype(int), t - 1)
        keep = (s["hours"].to_numpy() <= horizon)
        cols = s["parameter"].map(index).to_numpy()
        ok = keep & ~np.isnan(cols.astype(float))
        values[i, hour[ok], cols[ok].astype(int)] = s["value"].to_numpy()[ok]
    mask = (~np.isnan(values)).astype(np.float32)
    delta = np.zeros_like(values)
    for step in range(1, t):
        delta[:, step] = np.where(mask[:, step - 1] > 0, 1.0, delta[:, step - 1] + 1.0)
    return values, mask, delta


def standardise(values: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None):
    """Z-score per parameter (mean/std from training stays); missing stays NaN."""
    if mean is None:
        mean = np.nanmean(values, axis=(0, 1))
        std = np.nanstd(values, axis=(0, 1))
    mean = np.nan_to_num(mean)
    std = np.where(np.nan_to_num(std) > 0, np.nan_to_num(std), 1.0)
    return (values - mean) / std, mean, std


class GRUD(nn.Module):
    """GRU-D: input decay towards the empirical mean (0 after z-scoring) and hidden-state decay."""

    def __init__(self, n_inputs: int, hidden: int = 48, static: int = 3):
        super().__init__()
        self.gamma_x = nn.Parameter(torch.zeros(n_inputs))
        self.gamma_h = nn.Linear(n_inputs, hidden)
        self.cell = nn.GRUCell(n_inputs * 2, hidden)
        self.head = nn.Sequential(nn.Linear(hidden + static, 32), nn.ReLU(), nn.Linear(32, 1))
        self.hidden = hidden

    def forward(self, x: torch.Tensor, m: torch.Tensor, d: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        h = x.new_zeros(n, self.hidden)
        last = x.new_zeros(x.shape[0], x.shape[2])
        for step in range(t):
            xt, mt, dt = x[:, step], m[:, step], d[:, step]
            decay_x = torch.exp(-torch.relu(self.gamma_x) * dt)
            last = torch.where(mt > 0, xt, last)
            x_hat = mt * xt + (1 - mt) * decay_x * last
            h = h * torch.exp(-torch.relu(self.gamma_h(dt)))
            h = self.cell(torch.cat([x_hat, mt], dim=1), h)
        return self.head(torch.cat([h, s], dim=1)).squeeze(1)


class HourAttention(nn.Module):
    """A two-layer transformer encoder over hourly tokens (value, mask, delta) with a learned hour embedding."""

    def __init__(self, n_inputs: int, width: int = 48, static: int = 3, hours: int = HOURS):
        super().__init__()
        self.embed = nn.Linear(n_inputs * 3, width)
        self.position = nn.Parameter(torch.zeros(hours, width))
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=96, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.head = nn.Sequential(nn.Linear(width + static, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x, m, d, s):
        tokens = self.embed(torch.cat([x, m, torch.log1p(d)], dim=2)) + self.position[: x.shape[1]]
        z = self.encoder(tokens).mean(dim=1)
        return self.head(torch.cat([z, s], dim=1)).squeeze(1)


def static_inputs(stays: Sequence[Stay]) -> np.ndarray:
    """Age (scaled), sex and a flag for missing age: what the sequence models see besides the series."""
    age = np.array([s.descriptors.get("Age", np.nan) for s in stays], dtype=np.float32)
    sex = np.array([s.descriptors.get("Gender", np.nan) for s in stays], dtype=np.float32)
    return np.stack([np.nan_to_num((age - 65) / 15), np.nan_to_num(sex, nan=0.5), np.isnan(age)], axis=1).astype(np.float32)


def fit_sequence_model(kind: str, x, m, d, s, y, *, epochs: int = 12, seed: int = 0, threads: int = 2,
                       progress=None) -> nn.Module:
    """Train GRU-D (``kind='grud'``) or the attention model (``'attention'``) with Adam, class-weighted BCE."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    model = GRUD(x.shape[2]) if kind == "grud" else HourAttention(x.shape[2])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    xt = torch.tensor(np.nan_to_num(x)), torch.tensor(m), torch.tensor(d), torch.tensor(s)
    yt = torch.tensor(y, dtype=torch.float32)
    pos_weight = torch.tensor((1 - y.mean()) / max(y.mean(), 1e-3))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(yt), generator=gen).split(128):
            opt.zero_grad()
            loss = loss_fn(model(*(t[batch] for t in xt)), yt[batch])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        if progress:
            progress(epoch + 1, epochs)
    model.eval()
    return model


@torch.no_grad()
def predict_sequence_model(model: nn.Module, x, m, d, s) -> np.ndarray:
    model.eval()
    logits = model(torch.tensor(np.nan_to_num(x)), torch.tensor(m), torch.tensor(d), torch.tensor(s))
    return torch.sigmoid(logits).numpy()
