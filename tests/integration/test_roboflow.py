"""The Roboflow path end to end: the real roboflow client against a local stand-in of its API on 127.0.0.1.

The stand-in answers the calls roboflow 1.7.3 makes for `Roboflow(api_key).workspace(w).project(p).version(v)
.download(fmt, location, overwrite)`: POST /?api_key (key check), GET /{w} (workspace), GET /{w}/{p} (project
and versions, read twice), GET /{w}/{p}/{v} (is the version still generating), GET /{w}/{p}/{v}/{fmt}
(export link), then the link itself (the zip). It records every request, so a cache hit can prove it made none.
The client reads `API_URL` once, at import; evalaction imports it in a fresh child process per download, so
setting the variable here is enough.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image
from pydantic import SecretStr

from evalaction.datasets import load_dataset
from evalaction.datasets.roboflow import COMPLETE_MARKER, cache_path, fetch_roboflow, redact
from evalaction.datasets.sources import DataSources
from evalaction.exceptions import BadInput, CannotDownloadDataset
from evalaction.plan import DatasetSpec

pytest.importorskip("roboflow")

KEY = "rf-test-key-abc123XYZ"  # lowercase letters: the client treats a key without any as a placeholder
CLASSES = ["daisy", "rose", "tulip"]
SPLITS = {"train": 3, "valid": 1, "test": 2}  # images per class


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), "RGB").save(buf, "PNG")
    return buf.getvalue()


def folder_export_zip() -> bytes:
    """A Roboflow `folder` export: <split>/<class>/<name>_jpg.rf.<hash>.png, plus the README files it ships."""
    buf = io.BytesIO()
    seed = 0
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.roboflow.txt", "Flowers - v3\nThis dataset was exported via roboflow.com\n")
        for split, per_class in SPLITS.items():
            for cls in CLASSES:
                for i in range(per_class):
                    seed += 1
                    zf.writestr(f"{split}/{cls}/{cls}{i}_jpg.rf.{seed:032x}.png", _png(seed))
    return buf.getvalue()


def coco_export_zip() -> bytes:
    """A Roboflow `coco` export: <split>/_annotations.coco.json beside the split's images."""
    buf = io.BytesIO()
    seed = 100
    with zipfile.ZipFile(buf, "w") as zf:
        for split, per_class in SPLITS.items():
            images, annotations = [], []
            for c, cls in enumerate(CLASSES, start=1):
                for i in range(per_class):
                    seed += 1
                    name = f"{cls}{i}_jpg.rf.{seed:032x}.png"
                    zf.writestr(f"{split}/{name}", _png(seed))
                    images.append({"id": len(images), "license": 1, "file_name": name, "height": 12, "width": 10})
                    annotations.append(
                        {
                            "id": len(annotations),
                            "image_id": len(images) - 1,
                            "category_id": c,
                            "bbox": [0, 0, 10, 12],
                            "area": 120,
                            "segmentation": [],
                            "iscrowd": 0,
                        }
                    )
            doc = {
                "info": {"year": "2026", "version": "3", "description": "Exported from roboflow.com"},
                "licenses": [
                    {"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}
                ],
                "categories": [{"id": 0, "name": "flowers", "supercategory": "none"}]
                + [{"id": c, "name": n, "supercategory": "flowers"} for c, n in enumerate(CLASSES, start=1)],
                "images": images,
                "annotations": annotations,
            }
            zf.writestr(f"{split}/_annotations.coco.json", json.dumps(doc))
    return buf.getvalue()


@dataclass
class StandIn:
    """A local stand-in for api.roboflow.com and its export storage."""

    url: str = ""
    requests: list[str] = field(default_factory=list)
    zips: dict[str, bytes] = field(default_factory=dict)
    broken_link: bool = False  # the export link answers 403 with a JSON body (an expired signed URL)
    hang: threading.Event | None = None  # when set up, the export-link call waits on it (never answers in time)
    released: threading.Event = field(default_factory=threading.Event)
    reached: threading.Event = field(default_factory=threading.Event)  # the export-link call has arrived
    # "GET /acme/flowers/3/folder" -> answers served (in order) before the normal one: (status, headers)
    faults: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)


def _handler(state: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self, query: dict[str, list[str]]) -> bool:
            if query.get("api_key", [""])[0] != KEY:
                self._json(
                    401,
                    {
                        "error": {
                            "message": "This API key does not exist (or has been revoked).",
                            "type": "OAuthException",
                            "hint": "check api_key",
                        }
                    },
                )
                return False
            return True

        def _fault(self, method: str) -> bool:
            queue = state.faults.get(f"{method} {urlparse(self.path).path}")
            if not queue:
                return False
            status, headers = queue.pop(0)
            data = json.dumps({"error": {"message": f"stand-in fault {status}"}}).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return True

        def do_POST(self) -> None:
            state.requests.append(f"POST {self.path}")
            if self._fault("POST"):
                return
            u = urlparse(self.path)
            if u.path == "/" and self._authorized(parse_qs(u.query)):
                self._json(200, {"welcome": "Welcome to the Roboflow API.", "workspace": "acme"})

        def do_GET(self) -> None:
            state.requests.append(f"GET {self.path}")
            if self._fault("GET"):
                return None
            u = urlparse(self.path)
            parts = [p for p in u.path.split("/") if p]
            query = parse_qs(u.query)
            if parts[:1] == ["dl"]:
                return self._download(parts[1])
            if not self._authorized(query):
                return None
            if parts == ["acme"]:
                return self._json(
                    200,
                    {
                        "workspace": {
                            "name": "Acme",
                            "url": "acme",
                            "members": [],
                            "projects": [{"id": "acme/flowers", "name": "flowers"}],
                        }
                    },
                )
            if parts == ["acme", "flowers"]:
                return self._json(200, _project_payload())
            if parts == ["acme", "flowers", "3"]:
                return self._json(
                    200, {"version": {"id": "acme/flowers/3", "images": 18, "generating": False, "progress": 1.0}}
                )
            if len(parts) == 4 and parts[:3] == ["acme", "flowers", "3"]:
                fmt = parts[3]
                if state.hang is not None:
                    state.reached.set()
                    state.hang.wait(timeout=30)
                    state.released.set()
                link = f"{state.url}/dl/{fmt}.zip?key=signed-token-123"
                return self._json(200, {"export": {"link": link, "format": fmt}})
            return self._json(404, {"error": {"message": f"no such resource {u.path}"}})

        def _download(self, name: str) -> None:
            fmt = name.removesuffix(".zip")
            if state.broken_link or fmt not in state.zips:
                return self._json(403, {"error": "AccessDenied: Request has expired", "code": 403})
            data = state.zips[fmt]
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _project_payload() -> dict[str, object]:
    version = {
        "id": "acme/flowers/3",
        "name": "v3",
        "version": "3",
        "augmentation": {},
        "created": 1767225600.0,
        "images": 18,
        "preprocessing": {"auto-orient": True},
        "splits": {"train": 9, "valid": 3, "test": 6},
        "exports": ["folder", "coco"],
    }
    return {
        "workspace": {"name": "Acme", "url": "acme"},
        "project": {
            "id": "acme/flowers",
            "type": "classification",
            "name": "flowers",
            "annotation": "flowers",
            "classes": dict.fromkeys(CLASSES, 6),
            "colors": {},
            "created": 1767225600.0,
            "updated": 1767225600.0,
            "images": 18,
            "public": False,
            "splits": {"train": 9, "valid": 3, "test": 6},
            "unannotated": 0,
            "versions": 1,
        },
        "versions": [version],
    }


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    state = StandIn(zips={"folder": folder_export_zip(), "coco": coco_export_zip()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # read by the client at import, in the child process evalaction starts for each download
    monkeypatch.setenv("API_URL", state.url)
    monkeypatch.delenv("ROBOFLOW_API_KEY", raising=False)
    yield state
    if state.hang is not None:
        state.hang.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries as in production, but with millisecond backoff (the default doubles from 0.5 s)."""
    from evalaction.datasets import roboflow

    monkeypatch.setattr(roboflow, "BACKOFF_S", 0.01)


def _sources(tmp_path: Path, key: str = KEY, debug: bool = False) -> DataSources:
    return DataSources(roboflow_api_key=SecretStr(key), cache_dir=tmp_path / "cache", debug=debug)


def _spec(fmt: str = "folder", **kw: object) -> DatasetSpec:
    return DatasetSpec(roboflow={"workspace": "acme", "project": "flowers", "version": 3, "format": fmt, **kw})


def test_folder_export_downloads_then_hits_the_cache_offline(
    standin: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="evalaction")  # a CLI test earlier may have set it to WARNING
    sources = _sources(tmp_path, debug=True)
    ds = load_dataset(_spec(), tmp_path, "multiclass", sources=sources)
    assert ds.origin == "roboflow acme/flowers/3/folder (downloaded)"
    assert ds.split == "test" and len(ds) == SPLITS["test"] * len(CLASSES)
    assert ds.classes == CLASSES
    assert sorted(ds.raw_labels) == sorted(c for c in CLASSES for _ in range(SPLITS["test"]))
    assert ds.features.shape == (6, 3 * 12 * 10)
    target = cache_path(_spec().roboflow, tmp_path / "cache")  # type: ignore[arg-type]
    assert (target / COMPLETE_MARKER).is_file() and (target / "train" / "rose").is_dir()
    assert not (target / "roboflow.zip").exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    # the calls the real client made, in order; the key travelled in every API URL
    paths = [r.split("?")[0] for r in standin.requests]
    assert paths == [
        "POST /",
        "GET /acme",
        "GET /acme/flowers",
        "GET /acme/flowers",
        "GET /acme/flowers/3",
        "GET /acme/flowers/3/folder",
        "GET /dl/folder.zip",
    ]
    assert all(f"api_key={KEY}" in r for r in standin.requests if not r.startswith("GET /dl/"))

    # second run: the cache answers; not one request reaches the server
    standin.requests.clear()
    again = load_dataset(_spec(), tmp_path, "multiclass", sources=_sources(tmp_path, key="other-key-xyz"))
    assert standin.requests == []
    assert again.origin == "roboflow acme/flowers/3/folder (cache hit)"
    assert np.array_equal(again.features, ds.features) and list(again.ids) == list(ds.ids)

    # the client's urllib3 debug lines came through the log, with the key redacted
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "urllib3" in logged and "api_key=***" in logged
    captured = capfd.readouterr()
    assert KEY not in logged + captured.out + captured.err


def test_coco_export_and_another_split(standin: StandIn, tmp_path: Path) -> None:
    ds = load_dataset(_spec("coco", split="valid"), tmp_path, "multiclass", sources=_sources(tmp_path))
    assert ds.format == "coco" and ds.split == "valid"
    assert ds.classes == CLASSES  # the placeholder parent category `flowers` is left out
    assert list(ds.raw_labels) == CLASSES  # one valid image per class, in file order
    assert list(ds.y) == [0, 1, 2]
    assert (cache_path(_spec("coco").roboflow, tmp_path / "cache") / "train" / "_annotations.coco.json").is_file()  # type: ignore[arg-type]


def test_failed_zip_download_leaves_nothing_and_names_no_key(
    standin: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="evalaction")  # a CLI test earlier may have set it to WARNING
    standin.broken_link = True
    with pytest.raises(CannotDownloadDataset) as err:
        fetch_roboflow(_spec().roboflow, _sources(tmp_path, debug=True))  # type: ignore[arg-type]
    msg = str(err.value)
    assert "non-zip body" in msg and "Request has expired" in msg and "\n" not in msg
    target = cache_path(_spec().roboflow, tmp_path / "cache")  # type: ignore[arg-type]
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the staging folder with the error-body roboflow.zip is gone
    captured = capfd.readouterr()
    everything = msg + "\n".join(r.getMessage() for r in caplog.records) + captured.out + captured.err
    assert KEY not in everything and "signed-token-123" not in everything

    # a retry after the server recovers downloads for real (nothing stale blocks it)
    standin.broken_link = False
    fetched = fetch_roboflow(_spec().roboflow, _sources(tmp_path))  # type: ignore[arg-type]
    assert not fetched.cache_hit and (fetched.path / "test" / "daisy").is_dir()


def test_rejected_key_is_bad_input_named_without_the_key(standin: StandIn, tmp_path: Path) -> None:
    wrong = "wrong-key-with-lowercase-999"
    with pytest.raises(BadInput) as err:
        fetch_roboflow(_spec().roboflow, _sources(tmp_path, key=wrong))  # type: ignore[arg-type]
    msg = str(err.value)
    assert err.value.exit_code == 2 and "HTTP 401" in msg and "API key was refused" in msg
    assert "checking the API key" in msg and "does not exist" in msg
    assert wrong not in msg and KEY not in msg
    assert len(standin.requests) == 1  # a 401 is not retried


def test_unknown_project_is_bad_input_naming_the_plan_fields(standin: StandIn, tmp_path: Path) -> None:
    spec = DatasetSpec(roboflow={"workspace": "acme", "project": "nope", "version": 3})
    with pytest.raises(BadInput) as err:
        fetch_roboflow(spec.roboflow, _sources(tmp_path))  # type: ignore[arg-type]
    msg = str(err.value)
    assert err.value.exit_code == 2 and "HTTP 404" in msg and "/acme/nope" in msg
    assert "check `workspace`, `project` and `version`" in msg and KEY not in msg


def test_format_refused_is_bad_input_naming_the_format(standin: StandIn, tmp_path: Path) -> None:
    standin.faults["GET /acme/flowers/3/folder"] = [(400, {})]
    with pytest.raises(BadInput) as err:
        fetch_roboflow(_spec().roboflow, _sources(tmp_path))  # type: ignore[arg-type]
    msg = str(err.value)
    assert "HTTP 400" in msg and "`dataset.roboflow.format`" in msg and "API key" not in msg
    assert [r.split("?")[0] for r in standin.requests].count("GET /acme/flowers/3/folder") == 1


def test_transient_500_is_retried_honouring_a_capped_retry_after(
    standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from evalaction.datasets import roboflow

    monkeypatch.setattr(roboflow, "RETRY_AFTER_MAX_S", 1)
    # a 500 on the key check (POST) and a 503 asking for an hour's wait on the export call: both recover
    standin.faults["POST /"] = [(500, {})]
    standin.faults["GET /acme/flowers/3/folder"] = [(503, {"Retry-After": "3600"})]
    t0 = time.monotonic()
    fetched = fetch_roboflow(_spec().roboflow, _sources(tmp_path))  # type: ignore[arg-type]
    elapsed = time.monotonic() - t0
    assert not fetched.cache_hit and (fetched.path / "test" / "rose").is_dir()
    paths = [r.split("?")[0] for r in standin.requests]
    assert paths.count("POST /") == 2 and paths.count("GET /acme/flowers/3/folder") == 2
    assert 1.0 <= elapsed < 10  # waited the capped Retry-After (1 s), not an hour


@pytest.mark.parametrize("status", [502, 429])
def test_server_error_after_the_retries_is_the_services(standin: StandIn, tmp_path: Path, status: int) -> None:
    from evalaction.datasets import roboflow

    standin.faults["GET /acme/flowers"] = [(status, {"Retry-After": "0"})] * 10
    with pytest.raises(CannotDownloadDataset) as err:
        fetch_roboflow(_spec().roboflow, _sources(tmp_path))  # type: ignore[arg-type]
    msg = str(err.value)
    assert err.value.exit_code == 3 and f"HTTP {status}" in msg and f"after {roboflow.RETRIES} retries" in msg
    assert "retry later" in msg and "API key" not in msg
    assert [r.split("?")[0] for r in standin.requests].count("GET /acme/flowers") == roboflow.RETRIES + 1


def test_unreachable_server_error_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("API_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(CannotDownloadDataset) as err:
        fetch_roboflow(_spec().roboflow, _sources(tmp_path))  # type: ignore[arg-type]
    msg = str(err.value)
    # requests' ConnectionError text carries the URL, key and all; the message keeps the URL, not the key
    assert "ConnectionError" in msg and "127.0.0.1" in msg and "retried up to 4 times" in msg
    assert KEY not in msg and "api_key=***" in msg


@pytest.mark.slow
def test_deadline_kills_a_hanging_download(standin: StandIn, tmp_path: Path) -> None:
    standin.hang = threading.Event()
    spec = _spec(timeout_s=3)
    with pytest.raises(CannotDownloadDataset, match=r"no answer within 3 s .*timeout_s"):
        fetch_roboflow(spec.roboflow, _sources(tmp_path))  # type: ignore[arg-type]
    target = cache_path(spec.roboflow, tmp_path / "cache")  # type: ignore[arg-type]
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_missing_or_placeholder_key_fails_before_any_request(standin: StandIn, tmp_path: Path) -> None:
    no_key = DataSources(cache_dir=tmp_path / "cache")
    with pytest.raises(BadInput, match="ROBOFLOW_API_KEY is not set"):
        fetch_roboflow(_spec().roboflow, no_key)  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="no lowercase letter"):
        fetch_roboflow(_spec().roboflow, _sources(tmp_path, key="PLACEHOLDER123"))  # type: ignore[arg-type]
    assert standin.requests == []


def test_redact_removes_plain_encoded_and_query_secrets() -> None:
    key = "ab+c/d=e"
    text = f"GET http://h/x?api_key={key}&x=1 then http://h/y?api_key=ab%2Bc%2Fd%3De and key=zzz token=ttt"
    out = redact(text, key)
    assert key not in out and "ab%2Bc%2Fd%3De" not in out and "zzz" not in out and "ttt" not in out
    assert "x=1" in out and "http://h/x" in out


def test_sources_from_environ_reads_key_and_cache(tmp_path: Path) -> None:
    s = DataSources.from_environ({"ROBOFLOW_API_KEY": " k-123 ", "EVALACTION_CACHE": str(tmp_path)})
    assert s.roboflow_api_key is not None and s.roboflow_api_key.get_secret_value() == "k-123"
    assert s.cache_dir == tmp_path and "k-123" not in repr(s) and "k-123" not in str(s)
    empty = DataSources.from_environ({"ROBOFLOW_API_KEY": "", "EVALACTION_CACHE": ""})
    assert empty.roboflow_api_key is None and empty.cache_dir.name == "evalaction"


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _plan(tmp_path: Path) -> Path:
    """A classification plan reading the stand-in's dataset (the model file only has to exist for `plan`)."""
    import shutil

    from tests.conftest import ROOT

    (tmp_path / "models").mkdir(exist_ok=True)
    shutil.copy(ROOT / "examples/digits/models/candidate.onnx", tmp_path / "models/c.onnx")
    plan = tmp_path / "evalaction.yml"
    plan.write_text(
        "version: 1\ntask: multiclass\ndataset:\n  roboflow: {workspace: acme, project: flowers, version: 3}\n"
        "models:\n  candidate: {path: models/c.onnx}\nmetrics:\n  primary: accuracy\n"
    )
    return plan


@pytest.mark.parametrize(("signum", "via"), [("SIGTERM", "fetch"), ("SIGINT", "fetch"), ("SIGTERM", "cli")])
def test_signal_mid_download_kills_the_worker_and_removes_the_partial(
    standin: StandIn, tmp_path: Path, signum: str, via: str
) -> None:
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    standin.hang = threading.Event()
    code = (
        "import sys; from pathlib import Path; from pydantic import SecretStr\n"
        "from evalaction.plan import DatasetSpec\n"
        "from evalaction.datasets.roboflow import fetch_roboflow\n"
        "from evalaction.datasets.sources import DataSources\n"
        "spec = DatasetSpec(roboflow={'workspace': 'acme', 'project': 'flowers', 'version': 3, 'timeout_s': 60})\n"
        f"fetch_roboflow(spec.roboflow, DataSources(roboflow_api_key=SecretStr({KEY!r}), cache_dir=Path(sys.argv[1])))\n"
    )
    if via == "cli":  # the CLI's own SIGTERM handler (exit 143) reaches the same cleanup
        code = "from evalaction.cli import main; main()"
        args = ["plan", "-c", str(_plan(tmp_path))]
    else:
        args = [str(tmp_path / "cache")]
    env = {**os.environ, "ROBOFLOW_API_KEY": KEY, "EVALACTION_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        assert standin.reached.wait(20), "the download never reached the export call"
        workers = _children(proc.pid)
        assert len(workers) == 1
        proc.send_signal(getattr(signal, signum))
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (143 if signum == "SIGTERM" else -signal.SIGINT)
    assert not Path(f"/proc/{workers[0]}").exists()  # killed and reaped, not re-parented and left hanging
    parent = cache_path(_spec().roboflow, tmp_path / "cache").parent  # type: ignore[arg-type]
    assert list(parent.iterdir()) == []
    assert KEY.encode() not in err
    if via == "cli":
        assert b"error: interrupted by SIGTERM" in err  # the CLI's handler ran (ours stood aside)


def test_stale_partials_of_dead_runs_are_removed(standin: StandIn, tmp_path: Path) -> None:
    parent = cache_path(_spec().roboflow, tmp_path / "cache").parent  # type: ignore[arg-type]
    dead = parent / ".folder.partial-999999999-0123456789ab"  # above any pid_max: no such process
    live = parent / f".coco.partial-{os.getppid()}-0123456789ab"  # a live process's download: kept
    reused = parent / f".coco.partial-{os.getpid()}-0123456789ab"  # our pid, from an earlier container: stale
    for p in (dead, live, reused):
        (p / "export").mkdir(parents=True)
    fetch_roboflow(_spec().roboflow, _sources(tmp_path))  # type: ignore[arg-type]
    assert not dead.exists() and not reused.exists() and live.is_dir()
    assert sorted(p.name for p in parent.iterdir()) == [live.name, "folder"]


def test_damaged_cache_entry_is_named_offline_and_downloaded_again_with_a_key(
    standin: StandIn, tmp_path: Path
) -> None:
    import shutil

    spec = _spec().roboflow
    first = fetch_roboflow(spec, _sources(tmp_path))  # type: ignore[arg-type]
    n_files = sum(1 for p in first.path.rglob("*") if p.is_file()) - 1  # the marker left out
    shutil.rmtree(first.path / "train" / "rose")
    offline = DataSources(cache_dir=tmp_path / "cache")
    with pytest.raises(BadInput) as err:
        fetch_roboflow(spec, offline)  # type: ignore[arg-type]
    msg = str(err.value)
    assert "damaged" in msg and f"{n_files} files recorded at download, {n_files - SPLITS['train']} found" in msg
    assert str(first.path) in msg and "ROBOFLOW_API_KEY" in msg

    standin.requests.clear()
    again = fetch_roboflow(spec, _sources(tmp_path))  # type: ignore[arg-type]
    assert not again.cache_hit and any(r.startswith("GET /dl/folder.zip") for r in standin.requests)
    assert len(list((again.path / "train" / "rose").iterdir())) == SPLITS["train"]
    assert fetch_roboflow(spec, offline).cache_hit  # type: ignore[arg-type]

    # same file count, one image's bytes changed: the digest catches it
    victim = next((again.path / "test" / "tulip").iterdir())
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    with pytest.raises(BadInput, match="content digest differs"):
        fetch_roboflow(spec, offline)  # type: ignore[arg-type]


def test_cli_debug_shows_the_clients_requests_key_redacted(standin: StandIn, tmp_path: Path) -> None:
    """The CLI itself sets up the log (no pytest handler involved: a separate process)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    plan = _plan(tmp_path)
    env = {**os.environ, "ROBOFLOW_API_KEY": KEY, "EVALACTION_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-c", "from evalaction.cli import main; main()"]
    debug = subprocess.run(
        [*cmd, "--debug", "plan", "-c", str(plan)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert debug.returncode == 0, debug.stderr
    assert "DEBUG evalaction.roboflow: roboflow client stderr: urllib3.connectionpool:" in debug.stderr
    assert "GET /acme/flowers/3/folder?api_key=***" in debug.stderr
    assert KEY not in debug.stderr + debug.stdout and "signed-token-123" not in debug.stderr

    quiet = subprocess.run([*cmd, "plan", "-c", str(plan)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert quiet.returncode == 0 and "urllib3" not in quiet.stderr  # a cache hit, and no debug lines
