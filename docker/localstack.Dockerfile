# LocalStack 4.9.2 (the official image, pinned: later images need an auth token) with the project's
# LocalStack plugin installed, so each function runs in its own container of the project's runtime image
# (LAMBDA_RUNTIME_EXECUTOR=container); LAMBDA_RUNTIME_EXECUTOR=docker still selects LocalStack's own
# Docker executor where it can download its parts. Used where the official image can be pulled; offline,
# docker-compose.offline.yml builds docker/localstack-pypi.Dockerfile instead.
# Build context: the repository root.
FROM localstack/localstack:4.9.2

COPY localstack_plugin/ /opt/scones/localstack_plugin/
RUN /opt/code/localstack/.venv/bin/python -m pip install --no-cache-dir "docker>=7" /opt/scones/localstack_plugin
