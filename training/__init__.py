"""SageMaker-contract training (PyTorch) and serving (ONNX Runtime) for image classification.

One process-wide setting lives here because it must be in place before any
module of this package imports torch: libgomp (PyTorch's OpenMP runtime) reads
``OMP_WAIT_POLICY`` once, when torch loads it. The default, active waiting,
makes idle OpenMP threads spin; on a 2-core machine shared with other work
that starves the thread doing real work. Measured on the dev machine with one
other busy process: 3.6-12 s per training epoch spinning, 2.4-2.6 s passive
(1.1 s vs 1.4 s when the machine is otherwise idle). An explicit value in the
environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
