"""Write a model folder shaped like the built-in algorithm's model.tar.gz, using real MXNet.

Run with the mxnet environment's interpreter (see training/README.md):
``python tests/unit/mxnet_builtin_artifact.py OUT_DIR`` writes
``image-classification-symbol.json``, ``image-classification-0003.params`` and
``model-shapes.json`` for a small ResNet-style network with the built-in
algorithm's layer names (``bn_data`` on the raw pixels, ``fc1``, ``softmax``),
then prints one JSON line: the probabilities MXNet itself computes for the
image at ``OUT_DIR/probe.png`` when that file exists. The test compares them
with what the server answers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
from PIL import Image

SHAPE = (3, 32, 32)


def network(num_classes: int) -> mx.sym.Symbol:
    data = mx.sym.Variable("data")
    x = mx.sym.BatchNorm(data, fix_gamma=True, eps=2e-5, name="bn_data")
    x = mx.sym.Convolution(x, num_filter=8, kernel=(3, 3), pad=(1, 1), no_bias=True, name="conv0")
    x = mx.sym.BatchNorm(x, fix_gamma=False, eps=2e-5, name="bn0")
    x = mx.sym.Activation(x, act_type="relu", name="relu0")
    shortcut = x
    y = mx.sym.Convolution(x, num_filter=8, kernel=(3, 3), pad=(1, 1), no_bias=True, name="stage1_conv1")
    y = mx.sym.BatchNorm(y, fix_gamma=False, eps=2e-5, name="stage1_bn1")
    x = mx.sym.Activation(y + shortcut, act_type="relu", name="stage1_relu")
    x = mx.sym.Pooling(x, global_pool=True, kernel=(7, 7), pool_type="avg", name="pool1")
    x = mx.sym.Flatten(x)
    x = mx.sym.FullyConnected(x, num_hidden=num_classes, name="fc1")
    return mx.sym.SoftmaxOutput(x, name="softmax")


def main(out: Path) -> None:
    mx.random.seed(7)
    np.random.seed(7)
    symbol = network(2)
    module = mx.mod.Module(symbol, context=mx.cpu())
    module.bind(data_shapes=[("data", (4, *SHAPE))], label_shapes=[("softmax_label", (4,))])
    module.init_params(mx.init.Xavier(magnitude=2.0))
    module.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.01})
    for _ in range(3):  # a few real steps, so BatchNorm statistics and weights are not the initial ones
        pixels = mx.nd.array(np.random.randint(0, 256, (4, *SHAPE)).astype(np.float32))
        module.forward_backward(mx.io.DataBatch([pixels], [mx.nd.array([0, 1, 0, 1])]))
        module.update()
    out.mkdir(parents=True, exist_ok=True)
    module.save_checkpoint(str(out / "image-classification"), 3)
    (out / "model-shapes.json").write_text(json.dumps([{"shape": [1, *SHAPE], "name": "data"}]))
    probe = out / "probe.png"
    if probe.exists():
        pixels = np.asarray(Image.open(probe).convert("RGB"), dtype=np.float32).transpose(2, 0, 1)[None]
        infer = mx.mod.Module(symbol, context=mx.cpu(), label_names=None)
        infer.bind(for_training=False, data_shapes=[("data", (1, *SHAPE))])
        arg_params, aux_params = module.get_params()
        infer.set_params(arg_params, aux_params, allow_missing=True)  # softmax_label: unused for inference
        infer.forward(mx.io.DataBatch([mx.nd.array(pixels)]), is_train=False)
        print(json.dumps(infer.get_outputs()[0].asnumpy()[0].tolist()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
