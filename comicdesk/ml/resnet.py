"""ResNet-50 trunk with timm's module names, written here (no timm, no torchvision).

comic-panel-encoder-v1 holds ``timm.create_model('resnet50', num_classes=0)``: the classic
bottleneck ResNet ("v1.5": the stride of a downsampling block sits on its 3×3 convolution), a
7×7/2 stem with max-pooling, global average pooling and no classifier, giving 2048 features.
State-dict keys are timm's: ``conv1, bn1, layer1..4.<i>.{conv1..3, bn1..3, downsample.0/1}``.

``base_width`` and ``layers`` exist so tests can build a tiny trunk with the same structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["Bottleneck", "ResNet", "resnet50"]


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.act3(x + shortcut)


class ResNet(nn.Module):
    """Bottleneck ResNet without a classifier: (N, 3, H, W) -> (N, num_features)."""

    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3), base_width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = base_width
        for i, blocks in enumerate(layers):
            planes = base_width * 2**i
            stride = 1 if i == 0 else 2
            stage = []
            for j in range(blocks):
                stage.append(Bottleneck(channels, planes, stride if j == 0 else 1))
                channels = planes * Bottleneck.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*stage))
        self.num_stages = len(layers)
        self.num_features = channels
        self._init_weights()

    def _init_weights(self) -> None:
        # timm's scheme (irrelevant once a checkpoint is loaded, kept for sane random models)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        # timm's 'avg' global pool on NCHW: AdaptiveAvgPool2d(1) then flatten
        return nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)


def resnet50() -> ResNet:
    return ResNet((3, 4, 6, 3), 64)
