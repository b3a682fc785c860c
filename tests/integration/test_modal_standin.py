"""Modal's real client against a local stand-in of its API: a gRPC server on 127.0.0.1 that answers ClientHello.

Modal's SDK talks gRPC (grpclib, HTTP/2) to `server_url`; for `http://` URLs it speaks plaintext, so a grpclib
server that implements the one RPC the preflight makes (`/modal.client.ModalClient/ClientHello`) is enough to run
the preflight end to end: the token and server found the way Modal finds them (environment, else the active
profile of the Modal config file), then `Client.from_credentials(...).hello()` in a bounded child process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evalaction.exceptions import BadInput, ModalUnavailable
from evalaction.runners.modal import ModalCredentials, preflight, verify_in_subprocess

pytest.importorskip("modal")

GOOD_ID, GOOD_SECRET = "ak-standin-good", "as-standin-secret-1"


@dataclass
class HelloStandIn:
    url: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)  # (token id, whether the secret matched)


@pytest.fixture(scope="module")
def standin() -> Iterator[HelloStandIn]:
    from google.protobuf import empty_pb2
    from grpclib import GRPCError
    from grpclib.const import Cardinality, Handler, Status
    from grpclib.server import Server
    from modal_proto import api_pb2

    state = HelloStandIn()

    class ModalClientHello:
        async def client_hello(self, stream) -> None:  # type: ignore[no-untyped-def]
            await stream.recv_message()
            token_id = stream.metadata.get("x-modal-token-id", "")
            ok = token_id == GOOD_ID and stream.metadata.get("x-modal-token-secret") == GOOD_SECRET
            state.seen.append((token_id, str(ok)))
            if not ok:
                raise GRPCError(Status.UNAUTHENTICATED, "Token is invalid")
            await stream.send_message(api_pb2.ClientHelloResponse())

        def __mapping__(self) -> dict[str, Handler]:
            return {
                "/modal.client.ModalClient/ClientHello": Handler(
                    self.client_hello, Cardinality.UNARY_UNARY, empty_pb2.Empty, api_pb2.ClientHelloResponse
                )
            }

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Server] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = Server([ModalClientHello()])
        loop.run_until_complete(server.start("127.0.0.1", 0))
        holder["server"] = server
        state.url = f"http://127.0.0.1:{server._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state

    async def stop() -> None:
        holder["server"].close()
        await holder["server"].wait_closed()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def _config(home: Path, url: str) -> None:
    """A Modal config file as `modal token new` / `modal profile activate` leave it: two profiles, one active."""
    (home / ".modal.toml").write_text(
        f'[default]\ntoken_id = "ak-other"\ntoken_secret = "as-other"\n\n'
        f'[work]\ntoken_id = "{GOOD_ID}"\ntoken_secret = "{GOOD_SECRET}"\nserver_url = "{url}"\nactive = true\n\n'
        f'[stale]\ntoken_id = "ak-stale"\ntoken_secret = "as-stale-secret"\nserver_url = "{url}"\n',
        encoding="utf-8",
    )


def test_the_active_profile_of_the_modal_config_passes_the_preflight(
    standin: HelloStandIn, tmp_path: Path
) -> None:
    _config(tmp_path, standin.url)
    creds = ModalCredentials.from_environ({}, home=tmp_path)
    assert creds is not None and creds.token_id == GOOD_ID and creds.server_url == standin.url
    assert creds.origin == f"profile [work] of {tmp_path / '.modal.toml'}"
    assert GOOD_SECRET not in repr(creds)
    preflight(creds, timeout_s=10)  # against the stand-in named by the profile's server_url, not api.modal.com
    assert standin.seen[-1] == (GOOD_ID, "True")


def test_a_rejected_profile_token_is_named_without_its_secret(standin: HelloStandIn, tmp_path: Path) -> None:
    _config(tmp_path, standin.url)
    creds = ModalCredentials.from_environ({"MODAL_PROFILE": "stale"}, home=tmp_path)
    assert creds is not None and creds.token_id == "ak-stale"
    with pytest.raises(ModalUnavailable) as err:
        preflight(creds, timeout_s=10)
    msg = str(err.value)
    assert msg.startswith(
        f"modal: 127.0.0.1 rejected the token from profile [stale] of {tmp_path / '.modal.toml'}"
    )
    assert "Token is invalid" in msg and "as-stale-secret" not in msg and "\n" not in msg
    assert standin.seen[-1] == ("ak-stale", "False")


def test_the_environment_wins_over_the_config_file(standin: HelloStandIn, tmp_path: Path) -> None:
    _config(tmp_path, "http://127.0.0.1:9")  # the file names a dead server; MODAL_SERVER_URL the stand-in
    env = {"MODAL_TOKEN_ID": GOOD_ID, "MODAL_TOKEN_SECRET": GOOD_SECRET, "MODAL_SERVER_URL": standin.url}
    creds = ModalCredentials.from_environ(env, home=tmp_path)
    assert creds is not None and creds.server_url == standin.url
    assert creds.origin == "MODAL_TOKEN_ID / MODAL_TOKEN_SECRET"
    preflight(creds, timeout_s=10)
    # no token anywhere: None, and the preflight names both places to put one
    assert ModalCredentials.from_environ({}, home=tmp_path / "nowhere") is None


def test_an_unreadable_modal_config_is_named_not_quoted(tmp_path: Path) -> None:
    (tmp_path / ".modal.toml").write_text('[work]\ntoken_secret = "as-leaky-secret\n', encoding="utf-8")
    with pytest.raises(BadInput) as err:
        ModalCredentials.from_environ({}, home=tmp_path)
    assert "cannot read the Modal config" in str(err.value) and "as-leaky-secret" not in str(err.value)


def test_a_missing_modal_package_is_one_exit_2_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    # in the child that runs the check: `import modal` fails (this was a NameError on `AuthError` before)
    fake = tmp_path / "shadow" / "modal"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named modal')\n")
    monkeypatch.setenv("PYTHONPATH", f"{fake.parent}")
    answer = verify_in_subprocess("http://127.0.0.1:9", ModalCredentials("ak-x", "as-y"), 20)
    assert answer == {"ok": False, "kind": "missing", "message": "ImportError"}

    # in this process: the preflight stops before any connection, in one line, as bad input
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "modal" else real(name, *a))
    with pytest.raises(BadInput) as err:
        preflight(ModalCredentials("ak-x", "as-y"), server_url="http://127.0.0.1:9")
    assert err.value.exit_code == 2 and "pip install 'evalaction[modal]'" in str(err.value)
