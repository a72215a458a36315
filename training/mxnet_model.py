"""Optional: serve a model trained by the real built-in algorithm (MXNet artifacts).

A model.tar.gz from SageMaker's image-classification algorithm holds
``image-classification-symbol.json`` (the network), one or more
``image-classification-NNNN.params`` (weights per saved epoch) and
``model-shapes.json`` (``[{"name": "data", "shape": [1, C, H, W]}]``). Loading
it into the same server lets a cloud-trained model be tested locally.

MXNet 1.9.1 is retired and imports on Python 3.11 only with numpy 1.23.5,
which the project's main environment cannot hold (pandas, onnx and torch want
numpy >= 1.26). So this runs in a separate virtual environment built from
``training/requirements-mxnet.txt`` (see training/README.md); the server code
is the same, and ``mxnet`` is imported only when such a model is loaded.

The built-in networks start with a BatchNorm on the raw input, so they take
raw 0-255 RGB pixels, the same input as this project's ONNX models; the output
is the softmax over the classes.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np

PREFIX = "image-classification"
PARAMS = re.compile(rf"^{PREFIX}-(\d{{4}})\.params$")


class MXNetClassifier:
    """An MXNet Module bound for inference on batches of one image (see the module docstring)."""

    def __init__(self, model_dir: Path) -> None:
        from training.serve import ModelLoadError  # the server's error type; serve imports us lazily

        try:
            import mxnet as mx
        except ImportError as exc:
            raise ModelLoadError(
                f"{model_dir} holds a built-in (MXNet) model but mxnet is not installed here ({exc}); "
                "run the server from the mxnet environment (training/requirements-mxnet.txt)"
            ) from None
        epochs = sorted(int(m.group(1)) for p in model_dir.iterdir() if (m := PARAMS.match(p.name)))
        if not epochs:
            raise ModelLoadError(f"{model_dir} has {PREFIX}-symbol.json but no {PREFIX}-NNNN.params")
        self.epoch = epochs[-1]  # several files only with checkpoint_frequency; the last is the final model
        try:
            shapes = json.loads((model_dir / "model-shapes.json").read_text())
            data_shape = next(s["shape"] for s in shapes if s["name"] == "data")
            self.image_shape = tuple(int(v) for v in data_shape[1:])
        except (OSError, ValueError, KeyError, StopIteration, TypeError) as exc:
            raise ModelLoadError(
                f"{model_dir / 'model-shapes.json'} is missing or has no 'data' shape: {exc}"
            ) from None
        self.resize = None
        self._mx = mx
        try:
            symbol, arg_params, aux_params = mx.model.load_checkpoint(str(model_dir / PREFIX), self.epoch)
            missing = set(symbol.list_arguments()) - set(arg_params) - {"data"}
            missing = {name for name in missing if not name.endswith("_label")}
            if missing:
                raise ValueError(f"the params file lacks {', '.join(sorted(missing))}")
            self.module = mx.mod.Module(symbol=symbol, context=mx.cpu(), label_names=None)
            self.module.bind(for_training=False, data_shapes=[("data", (1, *self.image_shape))])
            # allow_missing covers only the label inputs (checked above): unused for inference, never saved
            self.module.set_params(arg_params, aux_params, allow_missing=True)
        except Exception as exc:  # mxnet raises MXNetError and plain errors for broken files
            raise ModelLoadError(f"cannot load the MXNet model in {model_dir}: {exc}") from None
        self._lock = threading.Lock()  # an MXNet Module is not safe to run from several threads

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        rows = []
        for image in pixels:
            batch = self._mx.io.DataBatch([self._mx.nd.array(image[None].astype(np.float32))])
            with self._lock:
                self.module.forward(batch, is_train=False)
                rows.append(self.module.get_outputs()[0].asnumpy()[0])
        return np.stack(rows)
