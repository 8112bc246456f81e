# syntax=docker/dockerfile:1
# learnseg service image: a build stage installs the project into a venv, a slim runtime stage
# copies that venv and runs it as a non-root user. A second image, --target nightly, runs
# python -m training for the nightly job (train, diff, assign; see README, "Nightly").
#
#   docker build -t learnseg .                              # models mounted at run time:
#   docker run -p 8000:8000 -e LEARNSEG_API_KEYS=lms:k1 -v "$PWD/models:/app/models:ro" learnseg
#
#   docker build -t learnseg --build-arg BAKE_MODELS=true . # bakes models/LATEST into the image:
#   docker run -p 8000:8000 -e LEARNSEG_API_KEYS=lms:k1 learnseg
#
# Settings are LEARNSEG_* variables (e.g. -e LEARNSEG_API_KEYS=lms:k1,nightly:k2, or keys files
# mounted read-only with LEARNSEG_API_KEYS_FILE); see service/config.py. The image listens on
# 0.0.0.0, so it refuses to start without a key (LEARNSEG_API_KEYS, LEARNSEG_ADMIN_KEYS or their
# _FILE variants) unless LEARNSEG_ALLOW_ANONYMOUS=true.

FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

WORKDIR /opt/src
# Serving's dependencies only (no pandas, pyarrow, matplotlib or pyspark), pinned with hashes in
# the lock file CI installs from too; then the project itself, non-editable, resolving nothing
# more. The cache mount keeps downloaded wheels between builds without putting them in a layer
# (the venv is all the runtime stage takes from here).
COPY requirements/serve.lock requirements/serve.lock
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/python -m pip install --require-hashes -r requirements/serve.lock
# Only what the wheel is built from; .dockerignore keeps everything else out of the context.
COPY pyproject.toml README.md ./
COPY training/ training/
COPY service/ service/
RUN /opt/venv/bin/python -m pip install --no-deps .

# Models: correct by construction whether or not any model was trained. COPY fails on a missing
# source, so the source is the models/ folder itself, which always exists (models/README.md is
# committed and re-included by .dockerignore). Only with BAKE_MODELS=true is the version named by
# models/LATEST copied out of it, and then a missing model fails the build with one sentence. By
# default /opt/models stays empty and a model folder is mounted at /app/models when running.
COPY models/ /opt/models-context/
ARG BAKE_MODELS=false
RUN mkdir -p /opt/models \
    && if [ "$BAKE_MODELS" = "true" ]; then \
        if [ ! -s /opt/models-context/LATEST ]; then \
            echo "BAKE_MODELS=true needs a trained model: run 'make train' first." >&2; exit 1; \
        fi; \
        version="$(cat /opt/models-context/LATEST)" \
        && cp -R "/opt/models-context/$version" /opt/models/ \
        && cp /opt/models-context/LATEST /opt/models/LATEST; \
    fi


# The nightly image (--target nightly): python -m training (train, diff, assign) with the
# training stack from requirements/run.lock (pandas, pyarrow, matplotlib, typer), for the
# CronJob of deploy/kubernetes/nightly-cronjob.yaml. Built only when asked for: the service
# image (the last stage, runtime) stays without it.
#
#   docker build --target nightly -t learnseg-nightly .
FROM python:3.11-slim AS build-nightly

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

WORKDIR /opt/src
COPY requirements/run.lock requirements/run.lock
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/python -m pip install --require-hashes -r requirements/run.lock
COPY pyproject.toml README.md ./
COPY training/ training/
COPY service/ service/
RUN /opt/venv/bin/python -m pip install --no-deps .


FROM python:3.11-slim AS nightly

RUN groupadd --system --gid 10001 learnseg \
    && useradd --system --uid 10001 --gid learnseg --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin learnseg

COPY --from=build-nightly /opt/venv /opt/venv

# Downloads and matplotlib's cache go to /tmp (an emptyDir in the CronJob): a fresh pod
# downloads a URL table afresh, and the root file system can stay read-only.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMP_WAIT_POLICY=PASSIVE \
    LEARNSEG_MODEL_DIR=/app/models \
    LEARNSEG_CACHE_DIR=/tmp/learnseg-cache \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
USER 10001:10001

CMD ["python", "-m", "training", "--help"]


FROM python:3.11-slim AS runtime

# A fixed uid/gid, so mounted model folders can be made readable to it on the host.
RUN groupadd --system --gid 10001 learnseg \
    && useradd --system --uid 10001 --gid learnseg --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin learnseg

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/models /app/models

# OMP_WAIT_POLICY=PASSIVE: OpenMP threads spin-wait by default; with another process on the same
# cores that made scikit-learn's KMeans.predict 13-60x slower (measured on a 2-core machine).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMP_WAIT_POLICY=PASSIVE \
    LEARNSEG_HOST=0.0.0.0 \
    LEARNSEG_PORT=8000 \
    LEARNSEG_MODEL_DIR=/app/models

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# No curl in the slim image: the check is Python's urllib, on the port the service listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; r = u.urlopen('http://127.0.0.1:' + os.environ.get('LEARNSEG_PORT', '8000') + '/health/ready', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["python", "-m", "service"]
