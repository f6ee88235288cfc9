# syntax=docker/dockerfile:1.7
# One image definition for the four services; the build argument SERVICE names which one
# (ingest, backtester, aggregator or dashboard-api). Built with the repository root as context:
#   docker build --build-arg SERVICE=ingest -t zixly/ingest .
# A build stage installs the service and its workspace dependencies (libs/contracts, libs/runtime)
# from the one uv.lock into a virtualenv; a slim runtime stage gets only that virtualenv and runs as
# an unprivileged user; a last stage per service sets what differs between them (listen address and
# port, console script, default command), and the final stage is the one SERVICE names.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG SERVICE

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/zixly/venv
WORKDIR /src

# uv reads the whole workspace from the lock, so it needs every member's pyproject (not its code).
COPY pyproject.toml uv.lock ./
COPY libs/contracts/pyproject.toml libs/contracts/
COPY libs/runtime/pyproject.toml libs/runtime/
COPY services/ingest/pyproject.toml services/ingest/
COPY services/backtester/pyproject.toml services/backtester/
COPY services/aggregator/pyproject.toml services/aggregator/
COPY services/dashboard-api/pyproject.toml services/dashboard-api/

# Third-party dependencies first: this layer changes only when the lock does.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package "zixly-${SERVICE}"

# Then the workspace packages themselves, installed as wheels (nothing points back into /src).
COPY libs/contracts/ libs/contracts/
COPY libs/runtime/ libs/runtime/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "zixly-${SERVICE}"

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 zixly \
    && useradd --system --uid 10001 --gid zixly --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin zixly
COPY --from=build /opt/zixly/venv /opt/zixly/venv
ENV PATH="/opt/zixly/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001

# The webhook receiver (HTTP); `migrate` applies its dedupe schema, `run` serves.
FROM runtime AS service-ingest
ENV ZIXLY_INGEST_HOST=0.0.0.0 \
    ZIXLY_INGEST_PORT=8080
EXPOSE 8080
ENTRYPOINT ["zixly-ingest"]
CMD ["run"]

# The sweep planner and the backtest workers (a Kafka consumer group). NUMBA_CACHE_DIR: numba caches
# compiled kernels there; /tmp stays writable (an emptyDir in Kubernetes) when the root filesystem is
# read-only.
FROM runtime AS service-backtester
ENV ZIXLY_BACKTESTER_HTTP_HOST=0.0.0.0 \
    ZIXLY_BACKTESTER_HTTP_PORT=8081 \
    NUMBA_CACHE_DIR=/tmp/numba-cache
EXPOSE 8081
ENTRYPOINT ["zixly-backtester"]

# Projects results into PostgreSQL; `migrate` applies the schema, `run` consumes.
FROM runtime AS service-aggregator
ENV ZIXLY_AGGREGATOR_HTTP_HOST=0.0.0.0 \
    ZIXLY_AGGREGATOR_HTTP_PORT=8082
EXPOSE 8082
ENTRYPOINT ["zixly-aggregator"]
CMD ["run"]

# The read-only HTTP API and web page.
FROM runtime AS service-dashboard-api
ENV ZIXLY_DASHBOARD_HOST=0.0.0.0 \
    ZIXLY_DASHBOARD_PORT=8000
EXPOSE 8000
ENTRYPOINT ["zixly-dashboard-api"]

# The image: the stage SERVICE names (a stage, so there is no tag to pin; BuildKit builds only the
# stages this one needs).
# hadolint ignore=DL3006
FROM service-${SERVICE}
