"""Network architectures, chosen by the ``num_layers`` hyperparameter.

* ``num_layers`` unset (the default here): :class:`CompactResNet`, a ResNet-9
  layout (Page, "How to train your ResNet", 2018) at a quarter of its width:
  widths 16-32-64-128, two residual blocks, ~0.41 M parameters. It is the
  network that meets the project's goal on a 2-core CPU (>= 0.90 validation
  accuracy on the CIFAR bicycle/motorcycle split in well under 3 minutes); a
  ResNet-20 takes about twice as long for a lower score, and the AWS default
  (ResNet-152) would take hours. See the README for the measurements.
* 20, 32, 44, 56, 110: the CIFAR ResNets of He et al. 2016 (section 4.2):
  three stages of ``(n-2)/6`` basic blocks with 16, 32, 64 filters, global
  average pooling. Shortcuts that change shape use a 1x1 projection.
* 18, 34 (basic blocks) and 50, 101, 152, 200 (bottleneck blocks): the
  ImageNet ResNets, widths 64-128-256-512. Images smaller than 64 pixels get a
  3x3 stride-1 stem without max pooling (the usual CIFAR adaptation, otherwise
  a 32x32 image is 1x1 after the stem); larger ones get the 7x7 stride-2 stem
  and max pooling of the paper.

Every network maps normalised float images ``(N, C, H, W)`` to class logits;
normalisation and softmax are added around it for export (training/export.py).
"""

from __future__ import annotations

import torch
from torch import nn

from training.hyperparameters import CIFAR_LAYERS, IMAGENET_LAYERS


def _conv_bn(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CompactResNet(nn.Module):
    """ResNet-9 at quarter width: prep, 3 pooled stages (residual after the 1st and 3rd), max-pool head."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn(in_channels, w),
            _conv_bn(w, 2 * w),
            nn.MaxPool2d(2),
            _Residual(2 * w),
            _conv_bn(2 * w, 4 * w),
            nn.MaxPool2d(2),
            _conv_bn(4 * w, 8 * w),
            nn.MaxPool2d(2),
            _Residual(8 * w),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(8 * w, num_classes, bias=False)
        # ResNet-9 scales the logits down: with max pooling the features are large, and
        # unscaled logits saturate the softmax in the first steps.
        self.logit_scale = 0.125

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)) * self.logit_scale


class _Basic(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = _shortcut(c_in, c_out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = _shortcut(c_in, c_out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class ResNet(nn.Module):
    """A stack of residual stages over a stem, global average pooling and a linear classifier."""

    def __init__(
        self,
        block: type[_Basic] | type[_Bottleneck],
        blocks_per_stage: tuple[int, ...],
        widths: tuple[int, ...],
        num_classes: int,
        stem: nn.Module,
        stem_channels: int,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [stem]
        c_in = stem_channels
        for stage, (count, width) in enumerate(zip(blocks_per_stage, widths, strict=True)):
            for i in range(count):
                stride = 2 if (stage > 0 and i == 0) else 1
                layers.append(block(c_in, width, stride))
                c_in = width * block.expansion
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


IMAGENET_CONFIG: dict[int, tuple[type[_Basic] | type[_Bottleneck], tuple[int, ...]]] = {
    18: (_Basic, (2, 2, 2, 2)),
    34: (_Basic, (3, 4, 6, 3)),
    50: (_Bottleneck, (3, 4, 6, 3)),
    101: (_Bottleneck, (3, 4, 23, 3)),
    152: (_Bottleneck, (3, 8, 36, 3)),
    200: (_Bottleneck, (3, 24, 36, 3)),
}


def build_model(num_layers: int | None, num_classes: int, image_shape: tuple[int, int, int]) -> nn.Module:
    """The network for ``num_layers`` (``None``: the compact default), see the module docstring."""
    channels, height, width = image_shape
    if num_layers is None:
        return CompactResNet(num_classes, channels)
    if num_layers in CIFAR_LAYERS:
        n = (num_layers - 2) // 6
        stem = _conv_bn(channels, 16)
        return ResNet(_Basic, (n, n, n), (16, 32, 64), num_classes, stem, 16)
    if num_layers in IMAGENET_LAYERS:
        block, stages = IMAGENET_CONFIG[num_layers]
        if min(height, width) < 64:
            stem: nn.Module = _conv_bn(channels, 64)
        else:
            stem = nn.Sequential(_conv_bn(channels, 64, stride=2, kernel=7), nn.MaxPool2d(3, 2, 1))
        return ResNet(block, stages, (64, 128, 256, 512), num_classes, stem, 64)
    raise ValueError(f"no architecture for num_layers={num_layers}")


def describe(num_layers: int | None) -> str:
    if num_layers is None:
        return "compact ResNet-9 (num_layers unset)"
    kind = "CIFAR" if num_layers in CIFAR_LAYERS else "ImageNet"
    return f"{kind} ResNet-{num_layers}"
