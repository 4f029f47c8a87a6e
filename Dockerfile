# One image for the whole stack: the MLflow server, the Ray head and the Ray workers.
# The versions are pyproject.toml's (torch, ray, optuna, mlflow...): the image installs this repository.
# On PyPI, torch==2.13.0 for Linux is the CUDA build, so GPU workers get CUDA; the same image runs on CPU.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/hartune
COPY pyproject.toml README.md ./
COPY platform ./platform
COPY search_spaces ./search_spaces
COPY ablations ./ablations
COPY docker ./docker
# [cluster]: the S3 client and MLflow's basic-auth app for the server; the rest is pyproject's pins.
RUN pip install -e '.[cluster]'

# Trials and generators write here; mount a shared volume (or point `storage` at S3) on a cluster.
RUN mkdir -p /mnt/hartune
WORKDIR /mnt/hartune
