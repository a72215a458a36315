"""A tiny trainer that follows the SageMaker training contract, for the emulator's tests.

Behaviour is chosen by the ``mode`` hyperparameter: ``ok`` (default) lists every channel file
into ``model/manifest.json``; ``fail`` writes ``output/failure`` and exits 1; ``crash`` raises
without a failure file; ``sleep`` sleeps ``seconds`` (for Stop and MaxRuntime), saving a model
when it gets SIGTERM; ``clienterror`` writes a failure that carries its own prefix; ``hostpath``
fails naming a file under its /opt/ml folder; ``fork`` leaves a child process running and exits 0.
It prints ``validation:accuracy=0.875`` and the image-classification algorithm's per-epoch
``Epoch[N] Train-accuracy=...`` / ``Validation-accuracy=...`` lines. The manifest records what
the process saw (credentials variables, working directory, sys.path).
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

root = Path(os.environ["OPT_ML"])
config = root / "input" / "config"
hps = json.loads((config / "hyperparameters.json").read_text())
channels = json.loads((config / "inputdataconfig.json").read_text())
resource = json.loads((config / "resourceconfig.json").read_text())
mode = hps.get("mode", "ok")
print(f"trainer starting mode={mode} host={resource['current_host']}", flush=True)

if mode == "fail":
    (root / "output" / "failure").write_text("bad hyperparameter: learning_rate must be positive")
    print("about to fail", flush=True)
    sys.exit(1)
if mode == "clienterror":
    (root / "output" / "failure").write_text("ClientError: train.lst line 3: label 7 is out of range")
    sys.exit(2)
if mode == "hostpath":
    (root / "input" / "data" / "train" / "missing.rec").read_bytes()  # FileNotFoundError: host path
if mode == "fork":
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print(f"forked child pid {child.pid}", flush=True)
if mode == "crash":
    print("last words before the crash", flush=True)
    raise RuntimeError("kaboom in the trainer")
if mode == "sleep":

    def on_term(*_):
        (root / "model" / "partial.txt").write_text("saved on SIGTERM")
        print("got SIGTERM, saved partial model", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    time.sleep(float(hps.get("seconds", "30")))

files = {
    name: sorted(
        str(p.relative_to(root / "input" / "data" / name))
        for p in (root / "input" / "data" / name).rglob("*")
        if p.is_file()
    )
    for name in channels
}
manifest = {
    "hyperparameters": hps,
    "channels": channels,
    "files": files,
    "env_job": os.environ.get("TRAINING_JOB_NAME"),
    "env_credentials": {k: os.environ.get(k) for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE")},
    "cwd": os.getcwd(),
    "sys_path": sys.path,
}
(root / "model" / "manifest.json").write_text(json.dumps(manifest))
(root / "output" / "data").mkdir(parents=True, exist_ok=True)
(root / "output" / "data" / "metrics.txt").write_text("accuracy 0.9")
print("validation:accuracy=0.875", flush=True)
for epoch, (train_acc, val_acc) in enumerate(((0.5, 0.6), (0.75, 0.8))):  # the built-in's own lines
    print(f"Epoch[{epoch}] Train-accuracy={train_acc:f}", flush=True)
    print(f"Epoch[{epoch}] Validation-accuracy={val_acc:f}", flush=True)
print("trainer done", flush=True)
