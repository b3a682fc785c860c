"""Modal runner: the local runners' code, executed on Modal for large test sets.

    ModalRunner.run(source)
      ├─ plan_shards: contiguous shards of whole batches (shard_size rounded up to a multiple of batch_size),
      │  so every sample lands in the same batch as in a local run and the outputs are identical
      ├─ payloads, built lazily from the streamed batches (one shard's rows in memory at a time here)
      ├─ executor.map(fn, payloads): Modal's `Function.map` in order (or `.local()` for tests and dry runs)
      └─ merge: each shard's outputs, batch indices (offset), latencies and timestamps into preallocated arrays

`run_shard` is the function body Modal runs: it opens the same runner `open_runner` would locally (with the same
pickle gate) on the model file mounted into the image and runs it over the shard. Credentials are handed in by
the caller (the CLI reads MODAL_TOKEN_ID / MODAL_TOKEN_SECRET); `preflight` fails in seconds, never minutes,
when Modal is unreachable or the token is rejected. `import modal` happens only inside this module's functions.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from evalaction.errors import CannotLoadModel, EvalActionError, ModalUnavailable
from evalaction.runners.base import ModelOutput, first_line

if TYPE_CHECKING:
    import numpy as np

    from evalaction.config import ModalSpec, ModelSpec
    from evalaction.runners.base import BatchSource, OutputCheck
    from evalaction.runners.progress import ProgressHook

REMOTE_MODEL_DIR = "/evalaction/model"
REMOTE_CODE_DIR = "/evalaction/code"
DEFAULT_SERVER_URL = "https://api.modal.com"


# ----------------------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class ModalCredentials:
    """A Modal token; the secret never appears in repr, logs or errors."""

    token_id: str
    token_secret: str = field(repr=False)

    def redact(self, text: str) -> str:
        for secret in (self.token_secret, self.token_id):
            if secret:
                text = text.replace(secret, "***")
        return text


def _probe_tcp(host: str, port: int, timeout_s: float) -> str | None:
    """None when a TCP connection opens within the timeout, else why not (DNS included in the bound)."""
    result: list[str | None] = ["timed out"]

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            result[0] = None
        except OSError as exc:
            result[0] = exc.strerror or type(exc).__name__

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout_s + 0.5)
    return result[0]


_VERIFY_SCRIPT = """
import json, os, sys
try:
    import modal
    from modal.exception import AuthError
    modal.Client.verify(os.environ["EVALACTION_MODAL_URL"], (os.environ["MODAL_TOKEN_ID"], os.environ["MODAL_TOKEN_SECRET"]))
    print(json.dumps({"ok": True}))
except AuthError as exc:
    print(json.dumps({"ok": False, "kind": "auth", "message": str(exc).splitlines()[0] if str(exc) else ""}))
except Exception as exc:
    print(json.dumps({"ok": False, "kind": type(exc).__name__, "message": (str(exc).splitlines() or [""])[0]}))
"""


def verify_in_subprocess(server_url: str, credentials: ModalCredentials, timeout_s: float) -> dict[str, Any]:
    """Modal's own `Client.verify` (a ClientHello RPC), in a child process that is killed at the deadline.

    The SDK retries transient errors for about a minute, so the call is bounded from outside; a child process
    (not a thread) leaves nothing behind still retrying. The token travels in the child's environment only.
    """
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODAL_")},
        "MODAL_TOKEN_ID": credentials.token_id,
        "MODAL_TOKEN_SECRET": credentials.token_secret,
        "EVALACTION_MODAL_URL": server_url,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", _VERIFY_SCRIPT], env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "kind": "timeout", "message": f"no answer within {timeout_s:g} s"}
    lines = done.stdout.strip().splitlines()
    try:
        return dict(json.loads(lines[-1]))
    except (IndexError, ValueError):
        return {"ok": False, "kind": "crash", "message": first_line(Exception(done.stderr or "no output"))}


Verifier = Callable[[str, ModalCredentials, float], dict[str, Any]]


def preflight(
    credentials: ModalCredentials | None,
    *,
    server_url: str | None = None,
    timeout_s: float = 15.0,
    verify: Verifier = verify_in_subprocess,
) -> None:
    """Fail in seconds with a clear message when Modal cannot be used: no token, no route, or a rejected token."""
    if credentials is None or not credentials.token_id or not credentials.token_secret:
        raise ModalUnavailable(
            "modal: `inference.modal` is set but MODAL_TOKEN_ID / MODAL_TOKEN_SECRET are not; add them as "
            "repository secrets (create a token with `modal token new`), or remove `inference.modal`"
        )
    url = (server_url or DEFAULT_SERVER_URL).split(",")[0].strip()
    parsed = urlparse(url)
    host = parsed.hostname or "api.modal.com"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    probe_s = min(5.0, timeout_s)
    why = _probe_tcp(host, port, probe_s)
    if why is not None:
        raise ModalUnavailable(
            f"modal: cannot reach {host}:{port} within {probe_s:.0f} s ({why}); check the runner's network or "
            "proxy, or remove `inference.modal` to run locally"
        )
    t0 = time.monotonic()
    answer = verify(url, credentials, timeout_s)
    if answer.get("ok"):
        return
    kind, message = answer.get("kind"), credentials.redact(str(answer.get("message", "")))[:200]
    if kind == "auth":
        raise ModalUnavailable(
            f"modal: the token was rejected ({message or 'unauthenticated'}); check MODAL_TOKEN_ID / "
            "MODAL_TOKEN_SECRET (create a new token with `modal token new`)"
        )
    if kind == "timeout":
        raise ModalUnavailable(
            f"modal: {host} accepted a connection but did not answer the authentication check within "
            f"{time.monotonic() - t0:.0f} s; retry later (https://status.modal.com) or remove `inference.modal`"
        )
    raise ModalUnavailable(f"modal: the authentication check failed ({kind}: {message}); retry later")


# ------------------------------------------------------------------------------------------------- sharding


@dataclass(frozen=True)
class Shard:
    start: int  # first sample
    stop: int  # one past the last sample
    first_batch: int  # global index of the shard's first batch


def plan_shards(n_samples: int, batch_size: int, shard_size: int) -> list[Shard]:
    """Contiguous shards of whole batches: the batch boundaries are those of a local run."""
    per_shard = math.ceil(shard_size / batch_size) * batch_size
    return [
        Shard(start, min(start + per_shard, n_samples), start // batch_size)
        for start in range(0, n_samples, per_shard)
    ]


class _ArraySource:
    """A shard's rows as a `BatchSource`."""

    def __init__(self, rows: np.ndarray) -> None:
        import numpy as np

        self.rows = rows
        self.ids = np.arange(len(rows))

    def __len__(self) -> int:
        return len(self.rows)

    def batches(self, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, len(self.rows), batch_size):
            yield start, self.rows[start : start + batch_size]


def _shard_payloads(
    source: BatchSource, batch_size: int, shards: list[Shard], common: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """One payload per shard, gathered from the streamed batches (one shard's rows held at a time)."""
    import numpy as np

    batches = source.batches(batch_size)
    for shard in shards:
        parts: list[np.ndarray] = []
        held = 0
        while held < shard.stop - shard.start:
            start, rows = next(batches)
            if start != shard.start + held:
                raise ModalUnavailable(
                    f"modal: batches out of order at sample {start}; expected {shard.start + held}"
                )
            parts.append(rows)
            held += len(rows)
        yield {
            **common,
            "start": shard.start,
            "first_batch": shard.first_batch,
            "rows": np.concatenate(parts) if len(parts) > 1 else np.ascontiguousarray(parts[0]),
        }


# --------------------------------------------------------------------------------------- the function body

_RUNNER_CACHE: dict[tuple[Any, ...], Any] = {}


def run_shard(payload: dict[str, Any]) -> dict[str, Any]:
    """Modal's function body: open the model with the local runner code (cached per container), run one shard."""
    from evalaction.config import ModelSpec
    from evalaction.runners.factory import open_runner

    path = Path(payload["model_path"])
    key = (str(path), path.stat().st_mtime_ns, payload["spec"], payload["device"], payload["threads"])
    runner = _RUNNER_CACHE.get(key)
    if runner is None:
        runner = open_runner(
            ModelSpec.model_validate_json(payload["spec"]),
            path,
            payload["role"],
            threads=payload["threads"],
            device=payload["device"],
            untrusted=payload["untrusted"],
            code_root=Path(payload["code_root"]) if payload.get("code_root") else None,
        )
        _RUNNER_CACHE.clear()  # one model per container at a time
        _RUNNER_CACHE[key] = runner
    out = runner.run(_ArraySource(payload["rows"]), batch_size=payload["batch_size"])
    return {
        "start": payload["start"],
        "first_batch": payload["first_batch"],
        "scores": out.scores,
        "batch_index": out.batch_index,
        "batch_latency_ms": out.batch_latency_ms,
        "batch_finished_at": out.batch_finished_at,
        "provider": runner.provider,
        "device": runner.device,
        "kind": runner.kind,
        "versions": runner.versions(),
    }


def _requirements(kind: str, gpu: str | None) -> list[str]:
    """The remote image's packages, pinned to the local versions so both sides compute the same thing."""
    from importlib.metadata import version

    pkgs = ["numpy", "pydantic", "pyyaml"]
    if kind == "onnx":
        pkgs.append("onnxruntime-gpu" if gpu else "onnxruntime")
    else:
        pkgs += ["torch", "safetensors"]
    out = []
    for pkg in pkgs:
        local = pkg.removesuffix("-gpu")
        try:
            # without the local label: `2.13.0+cpu` exists only on PyTorch's CPU index, the image uses PyPI
            out.append(f"{pkg}=={version(local).split('+')[0]}")
        except Exception:  # not installed here: let pip choose
            out.append(pkg)
    return out


def build_function(
    *, model_path: Path, kind: str, modal: ModalSpec, code_root: Path | None, module: str | None
) -> tuple[Any, Any]:
    """The Modal app and its shard function; nothing is contacted until the app runs."""
    import modal as modal_sdk

    image = modal_sdk.Image.debian_slim(python_version=f"{sys.version_info.major}.{sys.version_info.minor}")
    image = image.pip_install(*_requirements(kind, modal.gpu))
    image = image.add_local_file(model_path, f"{REMOTE_MODEL_DIR}/{model_path.name}")
    if module is not None and code_root is not None:
        top = module.split(":")[0].split(".")[0]
        package = code_root / top
        if package.is_dir():
            image = image.add_local_dir(package, f"{REMOTE_CODE_DIR}/{top}")
        else:
            image = image.add_local_file(code_root / f"{top}.py", f"{REMOTE_CODE_DIR}/{top}.py")
    image = image.add_local_python_source("evalaction")
    app = modal_sdk.App("evalaction-inference")
    fn = app.function(image=image, gpu=modal.gpu, timeout=modal.timeout_s, serialized=True, name="run_shard")(
        run_shard
    )
    return app, fn


# ------------------------------------------------------------------------------------------------- executors


class ShardExecutor(Protocol):
    remote: bool  # whether the function reads the mounted paths (Modal) or the local ones (`.local()`)

    def map(self, app: Any, fn: Any, payloads: Iterator[dict[str, Any]]) -> Iterable[dict[str, Any]]: ...


class LocalShardExecutor:
    """Runs each shard through the Modal function's `.local()`: the same body, in this process."""

    remote = False

    def map(self, app: Any, fn: Any, payloads: Iterator[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        return (fn.local(p) for p in payloads)


class ModalShardExecutor:
    """`Function.map` on Modal, outputs in input order; the preflight runs when the executor is made."""

    remote = True

    def __init__(
        self,
        credentials: ModalCredentials | None,
        *,
        server_url: str | None = None,
        preflight_timeout_s: float = 15.0,
    ) -> None:
        preflight(credentials, server_url=server_url, timeout_s=preflight_timeout_s)
        assert credentials is not None  # preflight refuses None
        self.credentials = credentials

    def map(self, app: Any, fn: Any, payloads: Iterator[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        import modal

        try:
            client = modal.Client.from_credentials(self.credentials.token_id, self.credentials.token_secret)
            with app.run(client=client):
                yield from fn.map(payloads, order_outputs=True)
        except EvalActionError:
            raise  # a shard's own one-line error (a bad model), re-raised by Modal as is
        except Exception as exc:
            raise ModalUnavailable(
                f"modal: the inference shards failed ({type(exc).__name__}: "
                f"{self.credentials.redact(first_line(exc))}); see the app's logs on modal.com"
            ) from None


# ------------------------------------------------------------------------------------------------- the runner


class ModalRunner:
    name = "modal"

    def __init__(
        self,
        path: Path,
        spec: ModelSpec,
        *,
        role: str,
        modal: ModalSpec,
        executor: ShardExecutor,
        threads: int = 0,
        device: str = "auto",
        untrusted: bool = False,
        code_root: Path | None = None,
    ) -> None:
        if spec.resolved_format == "predictions":
            raise CannotLoadModel(
                f"{role} model {path.name}: a predictions file needs no inference; remove `inference.modal`"
            )
        self.path, self.spec, self.role, self.modal, self.executor = path, spec, role, modal, executor
        self.threads, self.untrusted, self.code_root = threads, untrusted, code_root
        self.requested_device = device if modal.gpu or device != "auto" else "cpu"
        self.kind: str = spec.resolved_format
        self.provider: str = f"modal:{modal.gpu or 'cpu'}"
        self.device: str = self.provider
        self._versions: dict[str, str] = {}
        self.app, self.fn = build_function(
            model_path=path, kind=self.kind, modal=modal, code_root=code_root, module=spec.module
        )

    def versions(self) -> dict[str, str]:
        import modal

        return {"modal": modal.__version__, **self._versions}

    def run(
        self,
        source: BatchSource,
        *,
        batch_size: int,
        progress: ProgressHook | None = None,
        check: OutputCheck | None = None,
    ) -> ModelOutput:
        import numpy as np

        n = len(source)
        shards = plan_shards(n, batch_size, self.modal.shard_size)
        remote = self.executor.remote
        common = {
            "model_path": f"{REMOTE_MODEL_DIR}/{self.path.name}" if remote else str(self.path),
            "code_root": REMOTE_CODE_DIR if remote else (str(self.code_root) if self.code_root else None),
            "spec": self.spec.model_dump_json(),
            "role": self.role,
            "threads": self.threads,
            "device": self.requested_device,
            "untrusted": self.untrusted,
            "batch_size": batch_size,
        }
        started = time.perf_counter()
        scores: np.ndarray | None = None
        batch_index = np.empty(n, dtype=np.int32)
        latencies: list[np.ndarray] = []
        finished: list[np.ndarray] = []
        results = self.executor.map(self.app, self.fn, _shard_payloads(source, batch_size, shards, common))
        seen = 0
        for shard, result in zip(shards, results, strict=False):
            if result["start"] != shard.start or len(result["scores"]) != shard.stop - shard.start:
                raise ModalUnavailable(
                    f"modal: shard {seen} came back for samples {result['start']}..+{len(result['scores'])}, "
                    f"expected {shard.start}..{shard.stop}; re-run"
                )
            out = np.asarray(result["scores"])
            if scores is None:
                if check is not None:
                    check(out)
                scores = np.empty((n, *out.shape[1:]), dtype=out.dtype)
                self.kind = result["kind"]
                self.provider = f"modal:{self.modal.gpu or 'cpu'}:{result['provider']}"
                self._versions = dict(result["versions"])
            scores[shard.start : shard.stop] = out
            batch_index[shard.start : shard.stop] = result["batch_index"] + shard.first_batch
            latencies.append(np.asarray(result["batch_latency_ms"]))
            finished.append(np.asarray(result["batch_finished_at"]))
            seen += 1
            if progress is not None:
                progress.update(shard.stop - shard.start)
        if progress is not None:
            progress.close()
        if seen != len(shards) or scores is None:
            raise ModalUnavailable(f"modal: {seen} of {len(shards)} shards came back; re-run")
        return ModelOutput(
            scores=scores,
            batch_index=batch_index,
            batch_latency_ms=np.concatenate(latencies),
            batch_finished_at=np.concatenate(finished),
            wall_s=time.perf_counter() - started,
        )
