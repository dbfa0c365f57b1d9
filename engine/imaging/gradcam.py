"""Grad-CAM at the last convolutional block, computed in the same pass as the prediction.

Why in the same pass: the gradient is taken only back to the last block's map
(through pooling and the linear head), so the conv blocks run once without
autograd and the heat-map costs a small fraction of a forward pass instead of
a second forward + full backward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.imaging.model import XrayNet

#: Targets: 1 = pneumonia (positive logit), 0 = normal (negative logit).
PNEUMONIA, NORMAL = 1, 0


def forward_with_cam(model: XrayNet, x: torch.Tensor, target: int = PNEUMONIA) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (logit (N,), pooled features (N, C), cam (N, H, W) in [0, 1] at input resolution).

    The cam is ReLU(sum_k alpha_k A_k) with alpha_k the spatial mean of the gradient
    of the target score w.r.t. the last block's map A_k, bilinearly upsampled and
    scaled to a maximum of 1 (all zeros when nothing supports the target).
    """
    model.eval()
    with torch.no_grad():  # no graph through the conv blocks: the gradient stops at their output
        fmap = model.features(x)
    fmap.requires_grad_(True)
    with torch.enable_grad():
        logit, pooled = model.head_from_features(fmap)
        score = logit if target == PNEUMONIA else -logit
        (grads,) = torch.autograd.grad(score.sum(), fmap)
    with torch.no_grad():
        weights = grads.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * fmap).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        peak = cam.amax(dim=(1, 2), keepdim=True)
        cam = torch.where(peak > 0, cam / peak.clamp_min(1e-12), torch.zeros_like(cam))
    return logit.detach(), pooled.detach(), cam


def compute_gradcam(model: XrayNet, x: torch.Tensor, target: int = PNEUMONIA) -> torch.Tensor:
    """Grad-CAM map (N, H, W) in [0, 1] for ``target`` (see :func:`forward_with_cam`)."""
    return forward_with_cam(model, x, target)[2]
