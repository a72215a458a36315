"""The deployable model: normalisation + network + flip averaging + softmax, exported to ONNX.

The exported graph takes raw pixels (float32 0-255, ``(N, C, H, W)``, dynamic
batch) and returns class probabilities ``(N, num_classes)``. Keeping the
normalisation statistics and the softmax inside the graph means the server
only decodes and resizes images: it cannot drift from training, and it never
needs torch.

Test-time augmentation: the probabilities are the mean of the network's
softmax on the image and on its horizontal mirror. It costs a second forward
pass per image (well under a millisecond for the compact network) and removes
a fair share of the errors on this small validation set. Validation accuracy
during training is measured through this same module, so the logged
``Validation-accuracy`` is the accuracy of the exported model.

The exporter is the TorchScript-based one (``dynamo=False``): it needs only the
``onnx`` package and works offline; the dynamo exporter needs ``onnxscript``,
which the project does not install.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from training import contract

ONNX_OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


class Deployable(nn.Module):
    """Raw pixels in, probabilities out (see the module docstring)."""

    def __init__(
        self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor, flip_average: bool = True
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).float())
        self.register_buffer("inv_std", (1.0 / std).reshape(1, -1, 1, 1).float())
        self.flip_average = flip_average

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) * self.inv_std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.normalise(pixels)
        probabilities = torch.softmax(self.net(x), dim=1)
        if self.flip_average:
            probabilities = 0.5 * (probabilities + torch.softmax(self.net(torch.flip(x, dims=[3])), dim=1))
        return probabilities


def export_onnx(model: Deployable, image_shape: tuple[int, int, int]) -> bytes:
    """The ONNX bytes of ``model`` (in eval mode) with a dynamic batch dimension."""
    model = model.eval()
    example = torch.zeros(1, *image_shape)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter warns about its own deprecation
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    return buffer.getvalue()


def save_model(model: Deployable, info: dict) -> None:
    """Write ``model.onnx`` and ``model-info.json`` into ``$OPT_ML/model`` (each atomically).

    ``info`` must hold ``image_shape`` and ``num_classes``; the input/output names
    and the format are added here. The ONNX file is written first, so a
    ``model-info.json`` never describes a model that is not there.
    """
    image_shape = tuple(info["image_shape"])
    data = export_onnx(model, image_shape)  # type: ignore[arg-type]
    directory = contract.model_dir()
    contract.write_atomic(directory / contract.MODEL_ONNX, data)
    meta = {
        **info,
        "format": "onnx",
        "file": contract.MODEL_ONNX,
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "input_range": "float32 pixels 0-255, (N, C, H, W)",
        "opset": ONNX_OPSET,
    }
    contract.write_json_atomic(directory / contract.MODEL_INFO, meta)
