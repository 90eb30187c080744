# One image for every process of the CRM: the four services, the gateway and the migrations.
# The command picks the process, for example:
#   docker run crm-platform nameko run --config config.yaml contacts.service:ContactsService
#   docker run crm-platform python -m crm_kernel.migrations contacts
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# Build stage: a virtual environment with exactly the pins of requirements.txt, nothing resolved.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install pip==24.3.1
COPY requirements.txt /tmp/requirements.txt
# --no-deps: requirements.txt is the complete lock; `pip check` fails the build if it ever is not.
RUN /opt/venv/bin/pip install --no-deps -r /tmp/requirements.txt \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall --yes pip \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +
COPY config.yaml /app/config.yaml
COPY contracts /app/contracts
COPY crm_kernel /app/crm_kernel
COPY gateway /app/gateway
COPY services /app/services
COPY web /app/web
# Bytecode compiled at build time: the root filesystem is read-only at run time.
RUN /opt/venv/bin/python -m compileall -q /opt/venv /app

# Run stage: the interpreter, the virtual environment and the code; no compiler, no pip, no root.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 crm \
    && useradd --system --uid 10001 --gid crm --no-create-home --home-dir /app --shell /usr/sbin/nologin crm \
    && mkdir -p /var/lib/crm/documents \
    && chown -R crm:crm /var/lib/crm
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# The root filesystem is read-only at run time: caches (matplotlib's) go to the writable /tmp.
# CRM_ENVIRONMENT=production: a missing, short or placeholder secret stops a process at start-up.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gateway:/app/services/contacts:/app/services/interactions:/app/services/documents:/app/services/reporting \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONWARNINGS=ignore::DeprecationWarning \
    CRM_ENVIRONMENT=production \
    CRM_VAR_DIR=/var/lib/crm \
    DOCUMENTS_STORAGE_DIR=/var/lib/crm/documents \
    WEB_SERVER_ADDRESS=0.0.0.0:8000 \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
EXPOSE 8000
# Nameko installs its own SIGTERM handler, so it can be PID 1: on SIGTERM it stops taking work,
# lets in-flight workers and the outbox relay's batch finish, and exits 0.
CMD ["nameko", "run", "--config", "config.yaml", "gateway.service:GatewayService"]
