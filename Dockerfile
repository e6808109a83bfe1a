# syntax=docker/dockerfile:1
# The Gatehouse image: one image for every process of deploy/compose.yaml (web workers, the
# Celery worker and beat, the managed-server supervisor, the one-shot migration).
#
#   docker build -t gatehouse .
#   cp .env.example .env   # then set SECRET_KEY, POSTGRES_PASSWORD, REDIS_PASSWORD, ALLOWED_HOSTS...
#   docker compose -f deploy/compose.yaml --env-file .env up -d

# Build stage: wheels for every dependency at the versions requirements.lock pins. The compilers
# stay here, for any package without a wheel for this platform.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY core core
COPY teams teams
COPY servers servers
COPY gateways gateways
COPY identities identities
COPY audit audit
COPY rules rules
COPY dataplane dataplane
COPY apply apply
COPY config config
# The project's own wheel is dropped: the runtime runs the source tree (templates, static files
# and manage.py sit beside the packages).
RUN pip wheel --no-cache-dir --wheel-dir /wheels --constraint requirements.lock ".[saml]" \
    && rm /wheels/gatehouse-*.whl

# Runtime stage: the interpreter, the wheels installed from the build stage and the source; no
# compiler, no package index.
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEHOUSE_VAR_DIR=/app/var \
    WEB_WORKERS=2
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl
# The source belongs to root and is only read; the process writes nothing but its var dir.
RUN useradd --system --uid 10001 --user-group --home-dir /app/var --no-create-home gatehouse \
    && install --directory --owner gatehouse --group gatehouse /app/var
WORKDIR /app
COPY . .
USER gatehouse
# Static files are collected into the image (served by WhiteNoise). The throwaway key keeps
# settings from writing a generated secret key into the image.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input --verbosity 0
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# The web process of deploy/Procfile, on every interface of the container.
CMD ["sh", "-c", "exec python manage.py serve --host 0.0.0.0 --port 8000 --workers ${WEB_WORKERS}"]
