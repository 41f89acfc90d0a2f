# Mining Ops AI service image: `python -m api` (the README's main command) as a non-root user.
#
#   docker build -t mining-ops-ai .          (docker compose build does the same; see docs/operations.md)
#
# Nothing the mine owns is baked in: data/, models/ and logs/ are volumes (docker-compose.yml), and
# .dockerignore keeps them, tests and local files out of the build context. On first start with
# empty volumes the API generates a sample mine and trains a baseline champion.
#
# Works with the classic builder and BuildKit alike (no BuildKit-only syntax).

# ---- build stage: a virtualenv with the dependencies, then the project ----------------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build

# Dependency layer: only pyproject.toml, so editing the source does not reinstall the dependencies.
# The runtime requirements are read from [project].dependencies (tomllib is in the standard library).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
 && pip install -r requirements.txt

# Project layer: the four packages (README.md is the package's long description in pyproject.toml).
COPY README.md ./
COPY training ./training
COPY simulator ./simulator
COPY live ./live
COPY api ./api
RUN pip install --no-deps . \
 && pip check

# ---- runtime stage: the virtualenv only, run by an unprivileged user ------------------------------
FROM python:3.11-slim-bookworm AS runtime

# Numeric ids of the service user; match the owner of the host's data/ models/ logs/ (bind mounts)
# with `docker compose build --build-arg APP_UID=$(id -u) --build-arg APP_GID=$(id -g)` or .env.
ARG APP_UID=1000
ARG APP_GID=1000

# JSON log lines in the container even with `docker run -t` (MINEOPS_LOG_FORMAT=text overrides).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MINEOPS_API_HOST=0.0.0.0 \
    MINEOPS_AUTH=on \
    MINEOPS_LOG_FORMAT=json

RUN groupadd --non-unique --gid "$APP_GID" mineops \
 && useradd --non-unique --uid "$APP_UID" --gid mineops --home-dir /home/mineops --create-home \
        --shell /usr/sbin/nologin mineops \
 && mkdir -p /app/data /app/models /app/logs \
 && chown -R mineops:mineops /app

COPY --from=builder /opt/venv /opt/venv

# The settings' default folders (data, models, logs) are relative to the working directory.
WORKDIR /app
# Numeric, so an orchestrator can verify the user is not root without reading /etc/passwd.
USER ${APP_UID}:${APP_GID}

EXPOSE 8000

# /health answers 200 while the process is alive, also during the first start's sample-mine
# generation and baseline training; start-period covers interpreter and pool start-up on slow hosts.
# The port comes from the one settings object (MINEOPS_API_PORT), as it does for the server.
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import urllib.request; from api.settings import get_settings; urllib.request.urlopen(f'http://127.0.0.1:{get_settings().api_port}/health', timeout=4)"]

CMD ["python", "-m", "api"]
