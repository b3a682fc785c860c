"""Roboflow dataset versions: downloaded once with the real `roboflow` client into a cache, offline after that.

Cache layout: `<cache>/roboflow/<workspace>/<project>/<version>/<format>/`, complete when it holds
`.evalaction-complete.json`. A cache hit touches no network and does not import the client.

A miss runs the download in a child process (`_roboflow_worker.py`) under our own deadline, because the client
(1.7.3) sets no timeout on any request and reads `API_URL` once, at import. The export lands in a fresh
staging folder that is renamed into place only when complete, so a failed download (which leaves the server's
error body behind as `roboflow.zip`) or one killed at its deadline leaves nothing in the cache. The client puts
the API key in every URL, so it appears in its exception texts and in urllib3's debug log lines: everything
the child reports is redacted before it reaches a message or a log.

Each HTTP call is retried on connection errors and 5xx answers (`RETRIES` times, exponential backoff with jitter,
`Retry-After` honoured up to `RETRY_AFTER_MAX_S`), all under the download's deadline. A failure is named by what
the server said: 401/403 the key, 404 a name in the plan, 400 the format (all bad input, exit 2); a 5xx after the
retries, no route, or the deadline is the service's (exit 3). SIGTERM/SIGINT kill the child and remove the staging
folder; the child also ends by itself when its parent dies. Staging folders left by a killed run are removed by
the next one. The marker records the file count and a digest of every file's path and content; a hit is
verified against both, and a damaged entry is downloaded again (or named, when no key is set).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evalaction.exceptions import BadInput, CannotDownloadDataset

if TYPE_CHECKING:
    from evalaction.datasets.sources import DataSources
    from evalaction.plan import RoboflowSource

log = logging.getLogger("evalaction.roboflow")

COMPLETE_MARKER = ".evalaction-complete.json"
RETRIES = 4  # per HTTP call, on connection errors and 429/5xx
BACKOFF_S = 0.5  # urllib3: 0 s before the first retry, then 2**n times this, plus up to this much jitter
RETRY_AFTER_MAX_S = 30  # a longer Retry-After is capped (the deadline bounds the whole download anyway)
STALE_PARTIAL_S = 24 * 3600  # a staging folder whose owner cannot be told alive is stale after this long
_QUERY_SECRET = re.compile(r"(?i)(api_key|key|token|signature|x-goog-signature)=[^&\s'\"]+")


@dataclass(frozen=True)
class FetchedExport:
    path: Path
    cache_hit: bool


def redact(text: str, secret: str | None) -> str:
    """`text` without `secret` (plain or URL-encoded) and without the values of key/token query parameters."""
    from urllib.parse import quote

    if secret:
        for form in sorted({secret, quote(secret, safe=""), quote(secret)}, key=len, reverse=True):
            text = text.replace(form, "***")
    return _QUERY_SECRET.sub(r"\1=***", text)


def cache_path(source: RoboflowSource, cache_dir: Path) -> Path:
    """Where a version's export lives in the cache (workspace and project are validated slugs)."""
    return cache_dir / "roboflow" / source.workspace / source.project / str(source.version) / source.format


def fetch_roboflow(source: RoboflowSource, sources: DataSources) -> FetchedExport:
    """The export folder of `source`, from the cache (verified) or downloaded into it."""
    target = cache_path(source, sources.cache_dir)
    secret = sources.roboflow_api_key.get_secret_value() if sources.roboflow_api_key else ""
    if (target / COMPLETE_MARKER).is_file():
        damage = verify_cache_entry(target)
        if damage is None:
            log.info("roboflow %s: cache hit at %s (verified)", source.key, target)
            return FetchedExport(target, cache_hit=True)
        if not secret:
            raise BadInput(
                f"dataset.roboflow {source.key}: the cache entry {target} is damaged ({damage}) and "
                "ROBOFLOW_API_KEY is not set to download it again; delete the folder and set the key"
            )
        log.warning("roboflow %s: the cache entry is damaged (%s); downloading it again", source.key, damage)
        (target / COMPLETE_MARKER).unlink()
    if not secret:
        raise BadInput(
            f"dataset.roboflow {source.key}: not in the cache ({target}) and ROBOFLOW_API_KEY is not set; "
            "set it (in a workflow: `env: ROBOFLOW_API_KEY: ${{ secrets.ROBOFLOW_API_KEY }}`)"
        )
    if not any(c.islower() for c in secret):
        # the client treats such a key as a placeholder: it never authenticates and fails later, obscurely
        raise BadInput(
            f"dataset.roboflow {source.key}: ROBOFLOW_API_KEY has no lowercase letter, so the roboflow client "
            "treats it as a placeholder; set the real key from your Roboflow workspace settings"
        )
    import importlib.util

    if importlib.util.find_spec("roboflow") is None:
        raise BadInput(
            f"dataset.roboflow {source.key}: the roboflow client is not installed; "
            "`pip install 'evalaction[roboflow]'`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target.parent)
    # the owner's pid in the name: the next run can tell a live download from one left by a killed run
    staging = target.parent / f".{source.format}.partial-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        export = _download(source, secret, staging, debug=sources.debug)
        if (target / COMPLETE_MARKER).is_file() and verify_cache_entry(target) is None:
            log.info("roboflow %s: another run filled the cache meanwhile", source.key)  # keep its copy
            return FetchedExport(target, cache_hit=True)
        n_files, digest = content_digest(export)
        if target.exists():  # an incomplete or damaged folder from an older run: replace it
            shutil.rmtree(target)
        export.rename(target)
        (target / COMPLETE_MARKER).write_text(
            json.dumps(
                {
                    "source": source.key,
                    "files": n_files,
                    "sha256": digest,
                    "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # the error body `roboflow.zip` of a failed download too
    log.info("roboflow %s: downloaded %d files to %s", source.key, n_files, target)
    return FetchedExport(target, cache_hit=False)


def content_digest(folder: Path) -> tuple[int, str]:
    """(file count, sha256 over every file's relative path and content sha256), the marker left out."""
    entries = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != COMPLETE_MARKER:
            with path.open("rb") as fh:
                file_hash = hashlib.file_digest(fh, "sha256").hexdigest()
            entries.append(f"{path.relative_to(folder).as_posix()}\0{file_hash}\n")
    return len(entries), hashlib.sha256("".join(entries).encode()).hexdigest()


def verify_cache_entry(target: Path) -> str | None:
    """None when the entry matches its marker (file count and content digest), else what differs."""
    try:
        marker = json.loads((target / COMPLETE_MARKER).read_text(encoding="utf-8"))
        expected_files = int(marker["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return "its marker is unreadable"
    n_files, digest = content_digest(target)
    if n_files != expected_files:
        return f"{expected_files} files recorded at download, {n_files} found"
    if marker.get("sha256") is None:  # a marker from an evalaction that recorded no digest: the count must do
        return None
    if marker["sha256"] != digest:
        return "a file's content changed since the download (content digest differs)"
    return None


def remove_stale_partials(parent: Path) -> None:
    """Staging folders left behind by a run that was killed (its process is gone, or the folder is old)."""
    now = time.time()
    for path in parent.glob(".*.partial-*"):
        pid_text = path.name.rsplit(".partial-", 1)[1].split("-")[0]
        # our own pid: a folder from an earlier process that had it (containers reuse pids), not a live download
        alive = pid_text.isdigit() and int(pid_text) != os.getpid() and _pid_alive(int(pid_text))
        try:
            old = now - path.stat().st_mtime > STALE_PARTIAL_S
        except OSError:
            continue
        if not alive or old:
            log.info("roboflow: removing %s, left by an interrupted download", path.name)
            shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class _Terminated(BaseException):
    """SIGTERM arrived while the child was downloading (a BaseException, like KeyboardInterrupt)."""


@contextmanager
def _kill_child_on_signal() -> Iterator[None]:
    """SIGTERM raises `_Terminated` here when nothing else handles it (SIGINT already raises KeyboardInterrupt),
    so the caller's cleanup runs: the child is killed and the staging folder removed; the process exits 143."""
    if threading.current_thread() is not threading.main_thread() or callable(signal.getsignal(signal.SIGTERM)):
        # signal handlers live in the main thread only (the child's watchdog still ends it with us); and a handler
        # already installed (the CLI's raises its own BaseException) reaches the caller's cleanup as it is
        yield
        return

    def on_term(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, previous)
        log.warning("roboflow: terminated; the download was stopped and its partial folder removed")
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _download(source: RoboflowSource, secret: str, staging: Path, *, debug: bool) -> Path:
    location = staging / "export"
    result_file = staging / "result.json"
    args = {
        "workspace": source.workspace,
        "project": source.project,
        "version": source.version,
        "format": source.format,
        "location": str(location),
        "result": str(result_file),
        "debug": debug,
        "retries": RETRIES,
        "backoff_s": BACKOFF_S,
        "retry_after_max_s": RETRY_AFTER_MAX_S,
    }
    worker = (Path(__file__).with_name("_roboflow_worker.py")).read_text(encoding="utf-8")
    what = f"Roboflow download of {source.key}"
    # -P: the child's sys.path gets no script folder (evalaction/datasets holds a roboflow.py of its own)
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", worker, json.dumps(args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=staging,
        text=True,
    )
    try:
        with _kill_child_on_signal():
            try:
                out, err = proc.communicate(secret + "\n", timeout=source.timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                _log_child(out, err, secret)
                raise CannotDownloadDataset(
                    f"{what}: no answer within {source.timeout_s:g} s (`dataset.roboflow.timeout_s`); the partial "
                    "download was removed; retry, or raise the timeout for a large export"
                ) from None
    except BaseException:
        if proc.poll() is None:  # interrupted (SIGTERM, SIGINT): the child goes first, then the staging folder
            proc.kill()
            proc.wait()
        raise
    _log_child(out, err, secret)
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        tail = redact(
            (err or out or "").strip().splitlines()[-1:][0] if (err or out or "").strip() else "", secret
        )
        raise CannotDownloadDataset(
            f"{what}: the download process exited with code {proc.returncode} without a result ({tail or 'no output'}); "
            "re-run with --debug for the client's log"
        ) from None
    if not result.get("ok"):
        message, bad_input = _failure(what, result, secret)
        raise BadInput(message) if bad_input else CannotDownloadDataset(message)
    if result.get("retried"):
        log.info("roboflow %s: downloaded after %s retried HTTP calls", source.key, result["retried"])
    if not location.is_dir() or not any(location.iterdir()):
        raise CannotDownloadDataset(f"{what}: the client reported success but wrote no files; retry the run")
    return location


def _failure(what: str, result: dict[str, object], secret: str) -> tuple[str, bool]:
    """(one-line message, whether the plan or the key is at fault) for a failed download."""
    step = str(result.get("step") or "downloading")
    message = " ".join(redact(str(result.get("message") or ""), secret).split())[:300]
    body = result.get("body")
    if body:
        snippet = " ".join(redact(str(body), secret).split())[:200]
        return (
            f"{what}: {step}: the export link sent a non-zip body ({snippet}); the partial download was removed; "
            "check that the version's export exists, then retry"
        ), False
    status = result.get("status")
    code = int(status) if isinstance(status, int) else None
    found = f"{result.get('type')}: {message or 'no message'}"
    if code is not None:
        found = f"HTTP {code} from {result.get('url')}; {found}"
    if code in (401, 403):
        return f"{what}: {step}: the API key was refused ({found}); set ROBOFLOW_API_KEY to a valid key", True
    if code == 404:
        return (
            f"{what}: {step}: not found ({found}); check `workspace`, `project` and `version` in "
            "`dataset.roboflow` against the project's URL on app.roboflow.com"
        ), True
    if code == 400 and "export" in step:
        return (
            f"{what}: {step}: the server refused the format ({found}); check `dataset.roboflow.format` "
            "(folder or coco) and that this version offers it"
        ), True
    retried = int(str(result.get("retried") or 0))
    after = f" after {retried} retries" if retried else f" (retried up to {RETRIES} times)"
    if code is not None and (code >= 500 or code == 429):  # the server's, or its rate limit
        return (
            f"{what}: {step}: the server answered {found}{after}; retry later (https://status.roboflow.com)",
            False,
        )
    if "Connection" in str(result.get("type")) or "connect" in message.lower():
        return f"{what}: {step} failed ({found}){after}; check the network (or API_URL), then retry", False
    return (
        f"{what}: {step} failed ({found}); check the API key, workspace, project, version and format in the plan"
    ), False


def _log_child(out: str | None, err: str | None, secret: str) -> None:
    """The client's own output, redacted, at debug level (it prints progress to stdout, logs to stderr)."""
    for stream, text in (("stdout", out), ("stderr", err)):
        for line in (text or "").splitlines():
            if line.strip():
                log.debug("roboflow client %s: %s", stream, redact(line, secret))
