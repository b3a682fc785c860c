"""Modal runner: the local runners' code, executed on Modal for large test sets.

    ModalRunner.run(source)
      ├─ plan_shards: contiguous shards of whole batches (shard_size rounded up to a multiple of batch_size),
      │  so every sample lands in the same batch as in a local run and the outputs are identical
      ├─ payloads, built lazily from the streamed batches (one shard's rows in memory at a time here)
      ├─ executor.map(fn, payloads): Modal's `Function.map` in order (or `.local()` for tests and dry runs)
      └─ merge: each shard's outputs, batch indices (offset), latencies and timestamps into preallocated arrays

`run_shard` is the function body Modal runs: it opens the same runner `open_runner` would locally (with the same
pickle gate) on the model file mounted into the image, checks that a requested GPU is really used (a runner that
fell back to the CPU fails the run with one line), and runs it over the shard. Shards are sized by bytes
(`inference.modal.shard_mb`, default 32 MB of input rows per call), so image test sets ship a few hundred rows
per call and tables many thousands.

Credentials are read by the caller (`ModalCredentials.from_environ`, as Modal's own client does: MODAL_TOKEN_ID /
MODAL_TOKEN_SECRET, else the active profile of `~/.modal.toml` or MODAL_CONFIG_PATH, MODAL_PROFILE choosing it;
MODAL_SERVER_URL or the profile's `server_url` naming the server). `preflight` fails in seconds, never minutes,
when that server is unreachable or the token is rejected, using Modal's public client API only
(`Client.from_credentials(...).hello()`). `import modal` happens only inside this module's functions, and a
missing package is one line (`pip install 'evalaction[modal]'`, exit 2).

GPU images: an ONNX model on a GPU runs in `CUDA_BASE_IMAGE` (NVIDIA's CUDA 12 runtime with cuDNN 9, the
libraries onnxruntime-gpu's PyPI wheels are built against) with Python added by Modal; torch wheels from PyPI
bring their own CUDA libraries, so torch models keep `debian_slim`.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from evalaction.exceptions import BadInput, CannotLoadModel, EvalActionError, ModalUnavailable
from evalaction.runners.base import ModelOutput, first_line

if TYPE_CHECKING:
    import numpy as np

    from evalaction.plan import ModalSpec, ModelSpec
    from evalaction.runners.base import BatchSource, OutputCheck
    from evalaction.runners.progress import ProgressHook

REMOTE_MODEL_DIR = "/evalaction/model"
REMOTE_CODE_DIR = "/evalaction/code"
DEFAULT_SERVER_URL = "https://api.modal.com"
# CUDA 12 + cuDNN 9: the requirements of onnxruntime-gpu >= 1.19 from PyPI
# (https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html#requirements)
CUDA_BASE_IMAGE = "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04"


def require_modal() -> None:
    """One line (exit 2) when the plan asks for Modal but the package is not installed."""
    import importlib.util

    if importlib.util.find_spec("modal") is None:
        raise BadInput(
            "`inference.modal`: the plan asks for Modal, but the modal package is not installed; "
            "pip install 'evalaction[modal]', or remove `inference.modal` to run locally"
        )


# ----------------------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class ModalCredentials:
    """A Modal token and the server it is for; the secret never appears in repr, logs or errors."""

    token_id: str
    token_secret: str = field(repr=False)
    server_url: str | None = None  # None: Modal's default, https://api.modal.com
    origin: str = "MODAL_TOKEN_ID / MODAL_TOKEN_SECRET"  # where they came from, for messages

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, home: Path | None = None) -> ModalCredentials | None:
        """The token as Modal's client finds it: each of token_id, token_secret, server_url from its MODAL_*
        variable, else from the active profile of the Modal config file; None without a token."""
        config = Path(environ.get("MODAL_CONFIG_PATH") or (home or Path.home()) / ".modal.toml")
        profiles = _read_modal_config(config)
        name = environ.get("MODAL_PROFILE") or next(
            (k for k, v in profiles.items() if isinstance(v, dict) and v.get("active") is True), "default"
        )
        section = profiles.get(name)
        section = section if isinstance(section, dict) else {}
        values: dict[str, str] = {}
        from_file = []
        for key in ("token_id", "token_secret", "server_url"):
            env_value = environ.get(f"MODAL_{key.upper()}", "").strip()
            file_value = section.get(key)
            if env_value:
                values[key] = env_value
            elif isinstance(file_value, str) and file_value.strip():
                values[key] = file_value.strip()
                from_file.append(key)
        if not values.get("token_id") or not values.get("token_secret"):
            return None
        origin = "MODAL_TOKEN_ID / MODAL_TOKEN_SECRET"
        if "token_id" in from_file or "token_secret" in from_file:
            origin = f"profile [{name}] of {config}"
        return cls(values["token_id"], values["token_secret"], server_url=values.get("server_url"), origin=origin)

    def redact(self, text: str) -> str:
        for secret in (self.token_secret, self.token_id):
            if secret:
                text = text.replace(secret, "***")
        return text


def _read_modal_config(path: Path) -> dict[str, object]:
    """The Modal config file's profiles ({} when there is none); an unreadable one is named, never quoted."""
    import tomllib

    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(
            f"modal: cannot read the Modal config {path}: {type(exc).__name__}; fix or recreate it "
            "with `modal token new`, or set MODAL_TOKEN_ID / MODAL_TOKEN_SECRET"
        ) from None


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


# Modal's public client API only: `Client.from_credentials` (documented for third-party tokens) and `hello()`
# (a ClientHello RPC); the server comes from MODAL_SERVER_URL, which Modal's config reads first.
_VERIFY_SCRIPT = """
import json, os
try:
    import modal
    from modal.exception import AuthError
except Exception as exc:
    print(json.dumps({"ok": False, "kind": "missing", "message": type(exc).__name__}))
    raise SystemExit(0)
try:
    client = modal.Client.from_credentials(os.environ["MODAL_TOKEN_ID"], os.environ["MODAL_TOKEN_SECRET"])
    client.hello()
    print(json.dumps({"ok": True}))
except AuthError as exc:
    print(json.dumps({"ok": False, "kind": "auth", "message": (str(exc).splitlines() or [""])[0]}))
except Exception as exc:
    print(json.dumps({"ok": False, "kind": type(exc).__name__, "message": (str(exc).splitlines() or [""])[0]}))
"""


def verify_in_subprocess(server_url: str, credentials: ModalCredentials, timeout_s: float) -> dict[str, Any]:
    """Modal's public `Client.from_credentials(...).hello()` (a ClientHello RPC), in a child process killed at
    the deadline.

    The SDK retries transient errors for about a minute, so the call is bounded from outside; a child process
    (not a thread) leaves nothing behind still retrying. The token travels in the child's environment only.
    """
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MODAL_")},
        "MODAL_TOKEN_ID": credentials.token_id,
        "MODAL_TOKEN_SECRET": credentials.token_secret,
        "MODAL_SERVER_URL": server_url,
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
    require_modal()
    if credentials is None or not credentials.token_id or not credentials.token_secret:
        raise ModalUnavailable(
            "modal: `inference.modal` is set but no Modal token was found (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET, "
            "or a profile in ~/.modal.toml); add them as repository secrets (create a token with `modal token "
            "new`), or remove `inference.modal`"
        )
    url = (server_url or credentials.server_url or DEFAULT_SERVER_URL).split(",")[0].strip()
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
    if kind == "missing":
        require_modal()  # the same interpreter lacks it: one line, exit 2
        raise ModalUnavailable(
            f"modal: the modal package failed to import ({message}); reinstall evalaction[modal]"
        )
    if kind == "auth":
        raise ModalUnavailable(
            f"modal: {host} rejected the token from {credentials.origin} ({message or 'unauthenticated'}); "
            "create a new one with `modal token new` and update the secrets or the profile"
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


def shard_samples(row_bytes: float, modal: ModalSpec) -> int:
    """Samples per shard: `shard_size` when the plan sets it, else as many rows as fit in `shard_mb`."""
    if modal.shard_size is not None:
        return modal.shard_size
    return max(1, int(modal.shard_mb * 2**20 // max(row_bytes, 1.0)))


def _shard_payloads(
    batches: Iterator[tuple[int, np.ndarray]], shards: list[Shard], common: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """One payload per shard, gathered from the streamed batches (one shard's rows held at a time)."""
    import numpy as np

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
    from evalaction.plan import ModelSpec
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
    gpu = payload.get("gpu")
    if gpu and not uses_gpu(runner.provider, runner.device):
        raise ModalUnavailable(
            f"modal: `inference.modal.gpu: {gpu}` was requested, but the {runner.kind} runner in the container "
            f"runs on {runner.provider} ({_gpu_diagnosis(runner.kind)}); the run was stopped rather than "
            "timed on the CPU; see the README's Modal section for the image"
        )
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


def uses_gpu(provider: str, device: str) -> bool:
    """Whether a runner's provider/device is a GPU one (ONNX Runtime's CUDA/TensorRT provider, torch's cuda)."""
    return any(tag in provider for tag in ("CUDA", "Tensorrt", "TensorRT")) or device.startswith("cuda")


def _gpu_diagnosis(kind: str) -> str:
    """What the container offers, in a few words (never file contents)."""
    try:
        if kind == "onnx":
            import onnxruntime as ort

            return f"ONNX Runtime {ort.__version__} offers {', '.join(ort.get_available_providers())}"
        import torch

        return f"torch {torch.__version__}: cuda available = {torch.cuda.is_available()}"
    except Exception as exc:  # the diagnosis must not hide the error it explains
        return f"no diagnosis: {type(exc).__name__}"


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
    require_modal()
    import modal as modal_sdk

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if modal.gpu and kind == "onnx":
        # onnxruntime-gpu loads libcudart/libcublas/libcudnn from the system: debian_slim has none of them
        image = modal_sdk.Image.from_registry(CUDA_BASE_IMAGE, add_python=python)
    else:
        image = modal_sdk.Image.debian_slim(python_version=python)
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
        self.server_url = server_url or credentials.server_url

    def map(self, app: Any, fn: Any, payloads: Iterator[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        import modal

        if self.server_url:  # read by Modal's config when the client is made; the preflight checked this server
            os.environ["MODAL_SERVER_URL"] = self.server_url
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
        batches = source.batches(batch_size)
        first = next(batches, None)
        row_bytes = first[1].nbytes / max(len(first[1]), 1) if first is not None else 1.0
        shards = plan_shards(n, batch_size, shard_samples(row_bytes, self.modal))
        batches = itertools.chain([first] if first is not None else [], batches)
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
            "gpu": self.modal.gpu,
        }
        started = time.perf_counter()
        scores: np.ndarray | None = None
        batch_index = np.empty(n, dtype=np.int32)
        latencies: list[np.ndarray] = []
        finished: list[np.ndarray] = []
        results = self.executor.map(self.app, self.fn, _shard_payloads(batches, shards, common))
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
