"""A SageMaker emulator: the control plane and runtime APIs over HTTP, with jobs and endpoints that run.

Split by job, as the SageMaker SDK's local mode is (entities / session / container work):
``resources.py`` (the resources and their states), ``backend.py`` (the control-plane operations),
``listing.py`` (List* filtering and pagination), ``training.py`` (TrainingRunner) and
``hosting.py`` (ModelServer, EndpointRuntime, EndpointDeployer) for the work,
``runtime.py`` (InvokeEndpoint routing and capture), ``responses.py`` (HTTP only),
``protocol.py`` (wire format and validation from botocore's service models), plus
``capture.py``, ``executors.py``, ``images.py``, ``modeldata.py``, ``store.py``, ``aws.py``.
It knows AWS APIs only, nothing about any project using it: which local command runs which image
comes from the image map its user passes (``--image-map``).
"""

from sagemaker_emulator.backend import SageMakerBackend
from sagemaker_emulator.responses import create_app

__all__ = ["SageMakerBackend", "create_app"]
