# The evalaction container action. GitHub runs it with the workspace mounted at /github/workspace as the
# working directory and as a different user, so: no USER and no WORKDIR (GitHub's rules for Docker actions,
# https://docs.github.com/en/actions/sharing-automations/creating-actions/dockerfile-support-for-github-actions),
# and git must trust the mounted repository.
#
# Reproducible: the base image is pinned by digest, torch is the exact CPU build, and every other package
# comes from requirements/image.lock (also CI's constraints). To move the base image, see
# docs/github-action.md, "The published image" (`docker buildx imagetools inspect python:3.11-slim-bookworm`).
FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# git for the diff and the baseline (`git show base:path`), git-lfs to smudge LFS-stored baselines.
# hadolint ignore=DL3008 # Debian security updates replace exact versions; pinning would break rebuilds.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git git-lfs \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*'

# What no run of the action needs is deleted in the same RUN that installed it (a later layer cannot shrink
# the image): requirements/slim_image.sh says what and why; requirements/measure_image.py measures the result
# without Docker (docs/github-action.md, "Image size"). pip compiles nothing (--no-compile): bytecode is
# written last, only for what a run imports.
COPY requirements/slim_image.sh /opt/evalaction/requirements/slim_image.sh

# The CPU build of torch first: installed from PyPI as a dependency it would pull the multi-GB CUDA build.
# binutils only to strip torch's symbol tables, removed again in this layer.
# hadolint ignore=DL3008 # as above: Debian security updates replace exact versions.
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && pip install --no-cache-dir --no-compile torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && sh /opt/evalaction/requirements/slim_image.sh prune /usr/local/lib/python3.11/site-packages python \
    && sh /opt/evalaction/requirements/slim_image.sh strip-torch /usr/local/lib/python3.11/site-packages \
    && apt-get purge -y --auto-remove binutils \
    && rm -rf /var/lib/apt/lists/*

# Every other dependency at the version the test suite passed with, then the package with all its services
# (Roboflow test sets, W&B logging, Modal inference): a workflow user cannot `pip install` an extra. The digits
# demo then runs once (a broken image fails here) and writes the bytecode of what a run imports.
COPY requirements/image.lock /opt/evalaction/requirements/image.lock
COPY pyproject.toml README.md /opt/evalaction/
COPY evalaction /opt/evalaction/evalaction
COPY examples/digits /opt/evalaction/examples/digits
RUN pip install --no-cache-dir --no-compile -c /opt/evalaction/requirements/image.lock '/opt/evalaction[roboflow,wandb,modal]' \
    && sh /opt/evalaction/requirements/slim_image.sh prune /usr/local/lib/python3.11/site-packages python \
    && sh /opt/evalaction/requirements/slim_image.sh warm python /opt/evalaction/examples/digits \
    && rm -rf /opt/evalaction/evalaction /opt/evalaction/examples

COPY entrypoint /entrypoint
ENTRYPOINT ["/entrypoint"]
