# The SageMaker emulator as a container: the `sagemaker-emulator` service of docker-compose.yml.
# Build context: the repository root; the root .dockerignore lets in only the emulator's files, so the
# image holds no training code: under compose it runs the training/serving *image* (docker executor),
# through the docker socket that compose mounts, like SageMaker itself does.
#   docker build -f docker/sagemaker-emulator.Dockerfile -t scones-sagemaker-emulator .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# What sagemaker_emulator imports (tests/unit/test_compose.py keeps this list complete),
# plus the docker SDK for the docker executor.
RUN pip install --no-cache-dir "boto3>=1.40" "starlette>=0.37" "uvicorn>=0.30" "h11>=0.14" "docker>=7"

WORKDIR /opt/emulator
COPY sagemaker_emulator/ sagemaker_emulator/

EXPOSE 4577
ENTRYPOINT ["python", "-m", "sagemaker_emulator"]
CMD ["--host", "0.0.0.0", "--port", "4577", "--executor", "docker"]
