# syntax=docker/dockerfile:1
# dispatch-optimizer: the service (dispatcher serve), one image for every role.
#   docker build -t dispatch-optimizer .                         # service only
#   docker build --build-arg EXTRAS='[sim]' -t dispatch-sim .     # + simulator and demo
#   docker run --rm -p 127.0.0.1:50051:50051 dispatch-optimizer  # single-container trial:
#       no DISPATCH_REDIS_URL, so it starts the embedded valkey-server (data in /var/lib/dispatch)
# deploy/compose.yaml runs the API and solver roles against a Valkey container.
# Not built in the development sandbox (no container engine there): tests/deploy lints it
# with hadolint and checks the rules below.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: a wheel of this checkout, installed with its dependencies into /opt/venv --------
FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE CHANGELOG.md SECURITY.md ./
COPY proto/ proto/
COPY dispatcher/ dispatcher/
COPY solver/ solver/
COPY simulations/ simulations/
# Every dependency ships manylinux wheels: no compiler is installed, in this stage or the next.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/venv/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && /opt/venv/bin/pip install --no-cache-dir "$(ls /tmp/wheels/*.whl)${EXTRAS}" \
    && /opt/venv/bin/dispatcher --version

# -- runtime: the venv only, an unprivileged user, state under /var/lib/dispatch ------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dispatch-optimizer" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.description="gRPC dispatch optimizer (OR-Tools, Redis)"
RUN groupadd --system --gid 10001 dispatch \
    && useradd --system --uid 10001 --gid dispatch --home-dir /var/lib/dispatch \
       --create-home --shell /usr/sbin/nologin dispatch
COPY --from=build /opt/venv /opt/venv
# In a container the servers bind every interface (the port mapping decides who reaches
# them); the embedded valkey-server still listens on loopback only. The root filesystem may be
# read-only (deploy/): the solver's compiled kernels (numba) cache their build in /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DISPATCH_GRPC_HOST=0.0.0.0 \
    DISPATCH_METRICS_HOST=0.0.0.0 \
    DISPATCH_STATE_DIR=/var/lib/dispatch/state \
    DISPATCH_LOG_FORMAT=json \
    NUMBA_CACHE_DIR=/tmp/numba-cache
USER 10001:10001
WORKDIR /var/lib/dispatch
VOLUME ["/var/lib/dispatch"]
EXPOSE 50051 9464
# SIGTERM drains (grace_period_s, default 10 s): give `docker stop` more (-t 30, compose
# stop_grace_period: 30s).
STOPSIGNAL SIGTERM
# grpc.health.v1 through the package's own client (plaintext on loopback; a TLS-only server
# needs --tls-ca ... in an overriding HEALTHCHECK).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["dispatcher", "health", "--target", "127.0.0.1:50051", "--timeout", "3"]
ENTRYPOINT ["dispatcher"]
CMD ["serve"]
