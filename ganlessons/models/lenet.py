"""A LeNet-sized digit/fashion classifier (LeCun et al. 1998) used as the domain feature network.

FID (Heusel et al. 2017, arXiv:1706.08500) compares Gaussians fitted to a *trained* network's
features of real and generated images. ImageNet's Inception features mean little for 28×28
grey digits, and an untrained CNN's features measure nothing; a small classifier trained on
the domain itself is the sound choice for MNIST-like data.

    x (1×28×28, in [-1, 1]) → conv5 16 → pool → conv5 32 → pool → fc 128 → fc n_classes
The 128-d pre-activation of the hidden fc layer is the feature vector ``features(x)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    """logits = W₂·relu(φ(x)) with φ(x) ∈ R¹²⁸ the penultimate (pre-ReLU) features."""

    num_features = 128

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.n_classes = n_classes
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)   # 28 → 28, pool → 14
        self.conv2 = nn.Conv2d(16, 32, 5)             # 14 → 10, pool → 5
        self.fc1 = nn.Linear(32 * 5 * 5, self.num_features)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(self.num_features, n_classes)

    @staticmethod
    def prepare(x: torch.Tensor) -> torch.Tensor:
        """Accept N×1×28×28 or N×1×32×32 (zero-padded) images in [-1, 1]."""
        if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) not in ((28, 28), (32, 32)):
            raise ValueError(f"images must have shape (N, 1, 28, 28) or (N, 1, 32, 32), got {tuple(x.shape)}")
        if x.shape[-1] == 32:
            x = x[:, :, 2:30, 2:30]  # undo the 2-px padding of data.load(size=32)
        return x.float()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prepare(x)
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return self.fc1(h.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.relu(self.features(x))))


class LeNetFeatures(nn.Module):
    """φ(x) of a trained :class:`LeNet`, as the feature module torchmetrics' FID expects."""

    def __init__(self, net: LeNet):
        super().__init__()
        self.net = net.eval()
        self.num_features = net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)
