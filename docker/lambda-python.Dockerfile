# The Lambda execution environment image for runtime python3.11 under docker compose: the runtime's
# Python, AWS's runtime interface client (awslambdaric) and a pinned boto3, nothing else. The project's
# container executor (localstack_plugin/container_executor.py) starts one container of it per execution
# environment, copies only the function's code (/var/task) and layers (/opt) into it, and runs it as a
# non-root user with a read-only root filesystem, a size-limited /tmp and the function's memory limit.
# Build context: the repository root.
#   docker build -f docker/lambda-python.Dockerfile -t scones-lambda-python3.11 .
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Build-time pip settings (CA bundle) where `harness compose up --offline` put them; absent on a laptop.
ARG PIP_CONFIG_FILE=/opt/offline/pip.conf
COPY docker/offline/README.md docker/offline/pip.con[f] docker/offline/ca.pe[m] /opt/offline/

# The boto3 of the image is a pin of this project, not a copy of the one AWS currently ships in python3.11.
ARG LAMBDA_BOTO3=1.40.40
RUN pip install --no-cache-dir "awslambdaric==4.2.2" "boto3==${LAMBDA_BOTO3}" \
 && groupadd -g 990 sbx_user1051 && useradd -u 993 -g 990 -M -d /tmp -s /usr/sbin/nologin sbx_user1051 \
 && mkdir -p /var/task /opt && rm -rf /opt/offline

# Not PYTHONDONTWRITEBYTECODE: AWS's runtime does not set it (a handler could tell); /var/task is
# read-only anyway, so nothing is written.
ENV PYTHONUNBUFFERED=1 \
    LAMBDA_TASK_ROOT=/var/task \
    LAMBDA_RUNTIME_DIR=/var/runtime
WORKDIR /var/task
CMD ["python", "-c", "import awslambdaric, boto3; print('lambda runtime image ok, boto3', boto3.__version__)"]
