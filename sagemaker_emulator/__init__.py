"""A SageMaker emulator: the control plane and runtime APIs over HTTP, with jobs and endpoints that run.

Layout follows moto: ``models.py`` (resources and their states), ``responses.py`` (the HTTP
app), ``protocol.py`` (wire format and validation from botocore's service models), plus the
parts that do the work: ``training.py``, ``hosting.py``, ``capture.py``, ``executors.py``.
It knows AWS APIs only, nothing about any project using it.
"""

from sagemaker_emulator.models import SageMakerBackend
from sagemaker_emulator.responses import create_app

__all__ = ["SageMakerBackend", "create_app"]
