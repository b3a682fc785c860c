"""Measure the container image's size without Docker: its Python packages, built the way the Dockerfile builds them.

    python requirements/measure_image.py --build /tmp/evalaction-image   # build the venv, then measure it
    python requirements/measure_image.py /tmp/evalaction-image           # measure a venv built before

`--build` makes a fresh python3.11 venv and repeats the Dockerfile's steps in it: `pip install --no-compile
torch==2.13.0` (the CPU build), `slim_image.sh prune` and `strip-torch`, `pip install --no-compile -c requirements/image.lock
'.[roboflow,wandb,modal]'` from this checkout, `prune` again, `slim_image.sh warm` (the digits demo and every
service imported, writing bytecode). It prints the venv's site-packages by distribution (apparent file sizes,
as an image layer stores them, in MB = 10^6 bytes) and the image total against the 1.5 GB budget:
site-packages + the base image + the apt layer. pip is left out: the image uses the base image's pip.

The base image and the apt layer are estimates (no Docker here), stated below; the rest is measured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLIM = ROOT / "requirements" / "slim_image.sh"
BUDGET_MB = 1500.0
# python:3.11-slim-bookworm, uncompressed: an estimate (debian:bookworm-slim's ~75 MB plus CPython in
# /usr/local, pip and setuptools); figures quoted for it range from ~130 to ~150 MB, so the larger one counts.
BASE_IMAGE_MB = 150.0
# `apt-get install --no-install-recommends git git-lfs` on python:3.11-slim-bookworm: the sum of Debian
# bookworm's Installed-Size of what it adds (git 44.9 MB, libperl5.36 28.9, perl-modules-5.36 17.8, git-lfs 11.0,
# git-man 2.1, perl, libcurl3-gnutls and its Kerberos/LDAP/SSH/HTTP2 libraries), from `apt-cache show` on
# 2026-12-06: 113.8 MB. An estimate: the exact set depends on what the base image already holds.
APT_LAYER_MB = 114.0
NOT_IN_IMAGE = {"pip"}  # the base image's own pip is used; the venv's is not part of the image's layers


def build(venv: Path) -> None:
    if venv.exists():
        sys.exit(f"{venv} exists; remove it or measure it without --build")
    subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    sp = str(site_packages(venv))
    pip = [py, "-m", "pip", "install", "--no-cache-dir", "--no-compile", "--quiet"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run(["sh", str(SLIM), "prune", sp, py], check=True)
    subprocess.run(["sh", str(SLIM), "strip-torch", sp], check=True)
    lock = str(ROOT / "requirements" / "image.lock")
    subprocess.run([*pip, "-c", lock, f"{ROOT}[roboflow,wandb,modal]"], check=True, cwd="/")
    subprocess.run(["sh", str(SLIM), "prune", sp, py], check=True)
    subprocess.run(["sh", str(SLIM), "warm", py, str(ROOT / "examples" / "digits")], check=True)


def site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3.*/site-packages")
    return found


def tree_bytes(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for dirpath, _, files in os.walk(path):
        total += sum((Path(dirpath) / f).lstat().st_size for f in files)
    return total


def owners(sp: Path) -> dict[str, str]:
    """Top-level entry of site-packages -> the distribution that installed it (from the RECORD files)."""
    owner: dict[str, str] = {}
    for record in sp.glob("*.dist-info/RECORD"):
        name = record.parent.name.split("-")[0]
        for line in record.read_text(encoding="utf-8").splitlines():
            top = line.split(",", 1)[0].split("/", 1)[0]
            if top and not top.startswith(".."):
                owner.setdefault(top, name)
    return owner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("venv", type=Path)
    parser.add_argument("--build", action="store_true", help="build the venv as the Dockerfile does first")
    parser.add_argument("--top", type=int, default=25, help="distributions listed one by one (default 25)")
    args = parser.parse_args()
    if args.build:
        build(args.venv)
    sp = site_packages(args.venv)
    owner = owners(sp)
    sizes: dict[str, int] = {}
    for entry in sp.iterdir():
        dist = owner.get(entry.name, "(not in any RECORD)")
        sizes[dist] = sizes.get(dist, 0) + tree_bytes(entry)
    counted = {d: b for d, b in sizes.items() if d not in NOT_IN_IMAGE}
    ranked = sorted(counted.items(), key=lambda kv: -kv[1])
    print(f"site-packages of {args.venv} by distribution (MB, apparent size)")
    for dist, size in ranked[: args.top]:
        print(f"  {dist:<36} {size / 1e6:8.1f}")
    rest = ranked[args.top :]
    print(f"  {f'{len(rest)} others':<36} {sum(b for _, b in rest) / 1e6:8.1f}")
    packages = sum(counted.values()) / 1e6
    total = packages + BASE_IMAGE_MB + APT_LAYER_MB
    print(f"  {'site-packages (without pip)':<36} {packages:8.1f}  measured")
    print(f"  {'base image python:3.11-slim-bookworm':<36} {BASE_IMAGE_MB:8.1f}  estimate")
    print(f"  {'apt layer (git, git-lfs)':<36} {APT_LAYER_MB:8.1f}  estimate")
    verdict = "within" if total <= BUDGET_MB else "OVER"
    print(
        f"image total {total:.0f} MB: {verdict} the {BUDGET_MB / 1000:g} GB budget ({BUDGET_MB - total:+.0f} MB)"
    )
    return 0 if total <= BUDGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
