# The SageMaker emulator as a container: the `sagemaker-emulator` service of docker-compose.yml.
# The image holds no training code: under compose it runs the training/serving *image* (docker executor)
# through the docker socket that compose mounts, like SageMaker itself does.
# Build context: the repository root (the root .dockerignore admits only what the images copy).
#   docker build -f docker/sagemaker-emulator.Dockerfile -t scones-sagemaker-emulator .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

ARG PIP_CONFIG_FILE=/opt/offline/pip.conf
COPY docker/offline/README.md docker/offline/pip.con[f] docker/offline/ca.pe[m] /opt/offline/
# What sagemaker_emulator imports (tests/unit/test_compose.py keeps this list complete),
# plus the docker SDK for the docker executor.
RUN pip install --no-cache-dir "boto3>=1.40" "starlette>=0.37" "uvicorn>=0.30" "h11>=0.14" "docker>=7" \
 && rm -rf /opt/offline

WORKDIR /opt/emulator
COPY sagemaker_emulator/ sagemaker_emulator/

EXPOSE 4577
ENTRYPOINT ["python", "-m", "sagemaker_emulator"]
CMD ["--host", "0.0.0.0", "--port", "4577", "--executor", "docker"]
