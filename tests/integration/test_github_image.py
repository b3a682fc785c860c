"""The image's requirement set: every service's extra, from a complete, committed lock.

There is no network here to build the image; these check what the Dockerfile installs against the lock, and
the lock against this environment (built the Dockerfile's way: CPU torch, then the package with its
`roboflow`, `wandb` and `modal` extras). CI builds the real image and runs the demo inside it.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "image.lock"
make_lock = runpy.run_path(str(ROOT / "requirements" / "make_lock.py"))


def pins() -> dict[str, str]:
    out = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[name] = version
    return out


def test_the_lock_pins_every_service_and_cpu_torch() -> None:
    locked = pins()
    for name in ("roboflow", "wandb", "modal", "torch", "pygithub", "onnxruntime"):
        assert name in locked, name
    assert locked["torch"] == "2.13.0"
    assert not [n for n in locked if n.startswith(("nvidia-", "triton"))]  # the CPU build needs no CUDA


def test_the_dockerfile_installs_the_extras_from_the_lock_on_a_pinned_base() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "COPY requirements/image.lock" in text
    assert (
        "pip install --no-cache-dir --no-compile -c /opt/evalaction/requirements/image.lock "
        "'/opt/evalaction[roboflow,wandb,modal]'" in text
    )
    # the build runs the demo and imports every service (slim_image.sh warm): a broken image fails to build
    assert "slim_image.sh warm python /opt/evalaction/examples/digits" in text
    warm = (ROOT / "requirements" / "slim_image.sh").read_text().split("warm() {")[1]
    assert "import torch, captum.attr" in warm and "roboflow, wandb, modal, github" in warm
    (base,) = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert "@sha256:" in base and len(base.split("@sha256:")[1]) == 64


def test_every_install_is_slimmed_in_its_own_layer() -> None:
    """A deletion in a later layer does not shrink an image: each RUN that pip-installs prunes in that RUN."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runs = [line for line in text.splitlines() if line.startswith("RUN ") and "pip install" in line]
    assert len(runs) == 2
    for run in runs:
        assert "--no-compile" in run and "slim_image.sh prune /usr/local/lib/python3.11/site-packages" in run
    assert "slim_image.sh strip-torch" in runs[0] and "apt-get purge -y --auto-remove binutils" in runs[0]


def test_the_lock_covers_the_whole_requirement_set() -> None:
    """Every package evalaction[roboflow,wandb,modal] needs, transitively, is pinned: nothing floats."""
    needed = make_lock["closure"](make_lock["root_requirements"](ROOT / "pyproject.toml"))
    missing = sorted(set(needed) - set(pins()))
    assert missing == [], f"not in requirements/image.lock: {missing}; run requirements/make_lock.py"


@pytest.mark.parametrize("module", ["roboflow", "wandb", "modal"])
def test_each_service_is_installed_at_its_locked_version(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, module
    assert md.version(module).split("+")[0] == pins()[module]
