"""A small plain-torch CNN for 128 x 128 grayscale chest X-rays (no torchvision, no downloaded weights).

Why this shape: five conv blocks with BatchNorm and global average pooling train
from scratch in minutes on two CPU cores, and the last block's feature map
(8 x 8) is where Grad-CAM is taken. The network also carries, as buffers in its
``state_dict``, what the quality check and calibration need (Platt scaling
parameters, the training-feature mean and precision for a Mahalanobis
out-of-distribution score, a mean training image as a layout template), so one
``weights.pt`` loaded with ``weights_only=True`` holds the whole model.
"""
from __future__ import annotations

import torch
from torch import nn

CHANNELS = (16, 32, 64, 96, 128)


class ConvBlock(nn.Module):
    """conv3x3-BN-ReLU twice, then 2x2 max-pool (the first block uses one conv to stay cheap)."""

    def __init__(self, c_in: int, c_out: int, double: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        if double:
            layers += [nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(x))


class XrayNet(nn.Module):
    """Binary classifier: one logit for pneumonia. ``features`` returns the last block's map."""

    def __init__(self, channels: tuple[int, ...] = CHANNELS, input_size: int = 128) -> None:
        super().__init__()
        blocks, c_in = [], 1
        for i, c_out in enumerate(channels):
            blocks.append(ConvBlock(c_in, c_out, double=i > 0))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(c_in, 1)
        n_feat = c_in
        # Calibration (Platt: p = sigmoid(a * logit + b)); identity until fitted.
        self.register_buffer("platt", torch.tensor([1.0, 0.0]))
        # Bootstrap replicates of (a, b) for the probability interval.
        self.register_buffer("platt_boot", torch.tensor([[1.0, 0.0]]))
        self.register_buffer("threshold", torch.tensor(0.5))
        # Out-of-distribution statistics fitted on the training images.
        self.register_buffer("feat_mean", torch.zeros(n_feat))
        self.register_buffer("feat_precision", torch.eye(n_feat))
        self.register_buffer("maha_limit", torch.tensor(float("inf")))
        self.register_buffer("template", torch.zeros(input_size, input_size))
        self.register_buffer("template_limit", torch.tensor(-1.0))
        # Exposure limits: (min, max) of the mean and of the std of [0, 1] pixels in training.
        self.register_buffer("exposure_limits", torch.tensor([0.0, 1.0, 0.0, 1.0]))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last conv block's activation map (N, C, 8, 8): Grad-CAM's target layer."""
        return self.blocks(x)

    def head_from_features(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logit (N,), pooled features (N, C)) from a feature map."""
        pooled = fmap.mean(dim=(2, 3))
        return self.head(self.dropout(pooled)).squeeze(1), pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_from_features(self.features(x))[0]

    def calibrate(self, logit: torch.Tensor) -> torch.Tensor:
        """Calibrated probability of pneumonia from raw logits."""
        return torch.sigmoid(self.platt[0] * logit + self.platt[1])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
