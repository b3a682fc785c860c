# The evalaction container action. GitHub runs it with the workspace mounted at /github/workspace as the
# working directory and as a different user, so: no USER and no WORKDIR (GitHub's rules for Docker actions,
# https://docs.github.com/en/actions/sharing-automations/creating-actions/dockerfile-support-for-github-actions),
# and git must trust the mounted repository.
FROM python:3.11-slim

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

# The CPU build of torch first: installed from PyPI as a dependency it would pull the multi-GB CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md /opt/evalaction/
COPY evalaction /opt/evalaction/evalaction
RUN pip install --no-cache-dir /opt/evalaction

COPY entrypoint /entrypoint
ENTRYPOINT ["/entrypoint"]
