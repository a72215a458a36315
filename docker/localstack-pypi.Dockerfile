# LocalStack 4.9.2 built from PyPI on a Python 3.11 base, where the official image cannot be pulled
# (docker-compose.offline.yml). Same pins as the embedded target (docker/localstack-requirements.txt),
# plus the project's LocalStack plugin (executors and patches, found through its entry points) and the
# docker SDK its container executor uses. Build context: the repository root.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG PIP_CONFIG_FILE=/opt/offline/pip.conf
COPY docker/offline/README.md docker/offline/pip.con[f] docker/offline/ca.pe[m] /opt/offline/
COPY docker/localstack-requirements.txt /opt/scones/localstack-requirements.txt
RUN pip install --no-cache-dir -r /opt/scones/localstack-requirements.txt "docker>=7"

COPY localstack_plugin/ /opt/scones/localstack_plugin/
RUN pip install --no-cache-dir --no-deps /opt/scones/localstack_plugin && rm -rf /opt/offline

ENV GATEWAY_LISTEN=0.0.0.0:4566 \
    GATEWAY_SERVER=twisted \
    DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    LOCALSTACK_VOLUME_DIR=/var/lib/localstack \
    PYTHONUNBUFFERED=1
EXPOSE 4566
ENTRYPOINT ["python", "-m", "localstack.runtime.main"]
