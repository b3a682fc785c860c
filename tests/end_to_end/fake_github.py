"""A local GitHub REST API for tests: the operations of the vendored OpenAPI subset, checked strictly.

Every request is matched to an operation of `tests/fixtures/github/github-rest-api.subset.openapi.json`
and its path and query parameters and JSON body are validated against that document; every response this
fake sends is validated against the documented response schema too, so the fake cannot drift from GitHub.
Anything that does not validate is recorded in `violations` (tests assert it stays empty) and answered 400.

State: issue comments (paginated with `Link` headers and `per_page`), commit statuses, PR files.
Faults, armed by tests: a 500 after actually creating a comment, 403 on comment/status writes (a read-only
token), secondary rate limits (403 or 429 with `Retry-After`), a slow response, a hanging server (`hang_s`),
N pre-existing comments by anyone (`seed_comments(..., logins=...)`: the action's own are by
`github-actions[bot]`, a forged one carries the marker under another login).

Run standalone (`python tests/end_to_end/fake_github.py`) to poke at it with curl.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "github-rest-api.subset.openapi.json"
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 1234:5678."
)
# Statuses any endpoint may answer although the document does not list them for every operation.
_UNDOCUMENTED_ERRORS = {403, 429, 500, 502, 503}


# ---------------------------------------------------------------------------------------- OpenAPI


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema (draft 4): `nullable` becomes a null alternative."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example", "x-multi-segment")}
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        elif "$ref" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    regex: re.Pattern[str]
    path_params: tuple[str, ...]
    parameters: dict[tuple[str, str], dict[str, Any]]  # (in, name) -> parameter object
    body_schema: dict[str, Any] | None
    body_required: bool
    responses: dict[str, dict[str, Any]]


class OpenApiDocument:
    """The subset document, with $refs resolvable for jsonschema."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        self.raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.converted = _to_json_schema(self.raw)
        self._uri = "urn:github-openapi-subset"
        self._registry: Registry[Any] = Registry().with_resource(
            self._uri, Resource.from_contents(self.converted, default_specification=DRAFT4)
        )
        self.operations = list(self._operations())

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        """Follow a local `$ref` (parameters, responses, examples)."""
        while "$ref" in node:
            target: Any = self.raw
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def validate(self, instance: Any, schema: dict[str, Any]) -> list[str]:
        """Errors of `instance` against an (unconverted) schema object, as short strings."""
        # Inline schemas had their `#/components/...` refs rewritten to point at the document resource.
        validator = jsonschema.Draft4Validator(_to_json_schema(schema), registry=self._registry)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def _operations(self) -> Iterator[Operation]:
        for template, item in self.raw["paths"].items():
            for method, op in item.items():
                params: dict[tuple[str, str], dict[str, Any]] = {}
                for p in op.get("parameters", []):
                    p = self.resolve(p)
                    params[(p["in"], p["name"])] = p
                names = re.findall(r"\{([a-z_]+)\}", template)
                pattern = re.escape(template)
                for name in names:
                    # `sha` may hold slashes (a ref name); the document marks it x-multi-segment.
                    multi = params.get(("path", name), {}).get("x-multi-segment")
                    group = f"(?P<{name}>.+)" if multi else f"(?P<{name}>[^/]+)"
                    pattern = pattern.replace(re.escape("{" + name + "}"), group)
                body = op.get("requestBody")
                schema = body["content"]["application/json"]["schema"] if body else None
                yield Operation(
                    method=method.upper(),
                    template=template,
                    operation_id=op["operationId"],
                    regex=re.compile(pattern + r"\Z"),
                    path_params=tuple(names),
                    parameters=params,
                    body_schema=_rewrite_refs(schema, self._uri) if schema else None,
                    body_required=bool(body and body.get("required")),
                    responses=op["responses"],
                )

    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for op in self.operations:
            if op.method == method:
                m = op.regex.match(path)
                if m:
                    return op, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        return None

    def response_schema(self, op: Operation, status: int) -> dict[str, Any] | None | bool:
        """The documented JSON schema for a status; None for no body; False when undocumented."""
        response = op.responses.get(str(status))
        if response is None:
            return False
        response = self.resolve(response)
        content = response.get("content", {}).get("application/json")
        return _rewrite_refs(content["schema"], self._uri) if content else None


def _rewrite_refs(node: Any, uri: str) -> Any:
    if isinstance(node, list):
        return [_rewrite_refs(n, uri) for n in node]
    if isinstance(node, dict):
        return {
            k: (f"{uri}{v}" if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rewrite_refs(v, uri))
            for k, v in node.items()
        }
    return node


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """Path and query strings -> the schema's type, so `per_page=abc` fails as an integer."""
    if schema.get("type") == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    return value


# ---------------------------------------------------------------------------------------- state


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the server's prefix and query
    operation_id: str | None
    query: dict[str, str]
    body: Any
    authorization: str | None
    status: int = 0


@dataclass
class Faults:
    """Armed by tests; each counter is decremented as the fault fires."""

    comment_post_500_after_create: int = 0  # create the comment, then answer 500 (the reply was lost)
    comment_post_slow_after_create_s: float = 0.0  # create, then sleep before answering (client timeout)
    forbid_comment_writes: bool = False  # 403 on POST/PATCH comments (read-only token, fork PR)
    forbid_status_writes: bool = False
    rate_limit: dict[str, int] = field(default_factory=dict)  # operationId -> how many times
    rate_limit_status: int = 403
    retry_after: str | None = "0"  # None: no header (PyGithub then waits its secondary_rate_wait)
    server_error: dict[str, int] = field(default_factory=dict)  # operationId -> how many 502s before handling
    hang_s: float = 0.0  # every request waits this long before an answer (a hanging API; the client times out)


class FakeGitHub:
    """A threaded HTTP server on 127.0.0.1 (random port) that speaks the subset of the REST API."""

    def __init__(self, *, repository: str = "Codertocat/Hello-World", prefix: str = "") -> None:
        self.spec = OpenApiDocument()
        self.repository = repository
        self.prefix = prefix.rstrip("/")  # e.g. "/api/v3" to act like GitHub Enterprise Server
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.pr_files: dict[int, list[dict[str, Any]]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self._next_id = 1000
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for one poll, and every test starts and stops a server.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-github", daemon=True
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def start(self) -> FakeGitHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ seeding and inspection

    def seed_comments(
        self,
        pr_number: int,
        count: int,
        *,
        bodies: dict[int, str] | None = None,
        logins: dict[int, str] | None = None,
    ) -> None:
        """Add `count` comments by `reviewer`; `bodies` and `logins` override the body and author at some indexes.

        A comment this action wrote earlier is by `github-actions[bot]` (GITHUB_TOKEN's identity): seed it so.
        """
        for i in range(count):
            body = (bodies or {}).get(i, f"comment {i} from a human")
            self._create_comment(pr_number, body, login=(logins or {}).get(i, "reviewer"))

    def seed_pr_files(self, pr_number: int, files: list[tuple[str, str]] | list[dict[str, Any]]) -> None:
        """PR files as (filename, status) pairs or full diff entries."""
        template = self._example("diff-entry-items")[0]
        entries = []
        for f in files:
            entry = copy.deepcopy(template)
            if isinstance(f, tuple):
                entry.update(filename=f[0], status=f[1])
                entry.pop("previous_filename", None)
            else:
                entry.update(f)
            entries.append(entry)
        self.pr_files[pr_number] = entries

    def comment_bodies(self, pr_number: int) -> list[str]:
        return [c["body"] for c in self.comments.get(pr_number, [])]

    def calls(self, operation_id: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.operation_id == operation_id]

    # ------------------------------------------------------------------ handlers (under the lock)

    def _example(self, name: str) -> Any:
        return copy.deepcopy(self.spec.raw["components"]["examples"][name]["value"])

    def _api(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _create_comment(self, pr_number: int, body: str, *, login: str = "github-actions[bot]") -> dict[str, Any]:
        self._next_id += 1
        cid = self._next_id
        comment = self._example("issue-comment")
        comment.update(
            id=cid,
            node_id=f"IC_{cid}",
            url=self._api(f"/repos/{self.repository}/issues/comments/{cid}"),
            html_url=f"https://github.com/{self.repository}/pull/{pr_number}#issuecomment-{cid}",
            issue_url=self._api(f"/repos/{self.repository}/issues/{pr_number}"),
            body=body,
        )
        comment["user"]["login"] = login
        self.comments.setdefault(pr_number, []).append(comment)
        return comment

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        """Route a validated request; returns (status, JSON body, extra headers)."""
        repo = f"/repos/{self.repository}"
        f = self.faults
        m = re.fullmatch(rf"{re.escape(repo)}/issues/(\d+)/comments", path)
        if m and method == "GET":
            return self._list(int(m.group(1)), path, query)
        if m and method == "POST":
            if f.forbid_comment_writes:
                return _forbidden()
            comment = self._create_comment(int(m.group(1)), body["body"])
            if f.comment_post_500_after_create > 0:
                f.comment_post_500_after_create -= 1
                return 500, {"message": "Server Error"}, {}
            if f.comment_post_slow_after_create_s:
                delay, f.comment_post_slow_after_create_s = f.comment_post_slow_after_create_s, 0.0
                time.sleep(delay)
            return 201, comment, {"Location": comment["url"]}
        m = re.fullmatch(rf"{re.escape(repo)}/issues/comments/(\d+)", path)
        if m:
            found = [c for cs in self.comments.values() for c in cs if c["id"] == int(m.group(1))]
            if not found:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}
            if method == "PATCH":
                if f.forbid_comment_writes:
                    return _forbidden()
                found[0]["body"] = body["body"]
                found[0]["updated_at"] = "2026-01-01T00:00:00Z"
            return 200, found[0], {}
        m = re.fullmatch(rf"{re.escape(repo)}/statuses/(.+)", path)
        if m and method == "POST":
            if f.forbid_status_writes:
                return _forbidden()
            status = self._example("status")
            sha = m.group(1)
            status.update(
                id=sum(len(v) for v in self.statuses.values()) + 1,
                url=self._api(f"{repo}/statuses/{sha}"),
                state=body["state"],
                description=body.get("description"),
                target_url=body.get("target_url"),
                context=body.get("context", "default"),
            )
            self.statuses.setdefault(sha, []).append(status)
            return 201, status, {}
        m = re.fullmatch(rf"{re.escape(repo)}/pulls/(\d+)/files", path)
        if m:
            return self._list_files(int(m.group(1)), path, query)
        m = re.fullmatch(rf"{re.escape(repo)}/pulls/(\d+)", path)
        if m:
            number = int(m.group(1))
            pull = self.pulls.get(number)
            if pull is None:
                return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}
            return 200, pull, {}
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, {}

    def _paginate(self, items: list[Any], path: str, query: dict[str, str]) -> tuple[list[Any], dict[str, str]]:
        per_page = min(int(query.get("per_page", 30)), 100)
        page = max(int(query.get("page", 1)), 1)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(p: int) -> str:
            qs = urllib.parse.urlencode({**query, "per_page": per_page, "page": p})
            return f"<{self._api(path)}?{qs}>"

        rels = []
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            rels += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
        return chunk, ({"Link": ", ".join(rels)} if rels else {})

    def _list(self, pr_number: int, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        chunk, headers = self._paginate(self.comments.get(pr_number, []), path, query)
        return 200, chunk, headers

    def _list_files(self, pr_number: int, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        chunk, headers = self._paginate(self.pr_files.get(pr_number, []), path, query)
        return 200, chunk, headers


def _forbidden() -> tuple[int, Any, dict[str, str]]:
    return (
        403,
        {
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
            "status": "403",
        },
        {},
    )


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # keep pytest output clean; `fake.requests` is the log

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            path = parsed.path
            record = RecordedRequest(method, path, None, query, None, self.headers.get("Authorization"))
            if fake.faults.hang_s:
                fake.requests.append(record)
                threading.Event().wait(fake.faults.hang_s)  # not time.sleep: tests may patch that
                return
            with fake._lock:
                fake.requests.append(record)
                status, payload, headers = self._route(method, path, query, raw, record)
                record.status = status
            self._reply(status, payload, headers)

        def _route(
            self, method: str, path: str, query: dict[str, str], raw: bytes, record: RecordedRequest
        ) -> tuple[int, Any, dict[str, str]]:
            if fake.prefix:
                if not path.startswith(fake.prefix + "/"):
                    return self._violation(f"{method} {path}: not under the API prefix {fake.prefix}")
                path = path[len(fake.prefix) :]
            record.path = path
            matched = fake.spec.match(method, path)
            if matched is None:
                return self._violation(f"{method} {path}: no such operation in the OpenAPI subset")
            op, path_values = matched
            record.operation_id = op.operation_id
            problems = []
            for name, value in path_values.items():
                param = op.parameters.get(("path", name))
                if param is None:
                    problems.append(f"path parameter {name} is not documented")
                    continue
                problems += [
                    f"path {name}: {e}"
                    for e in fake.spec.validate(_coerce(value, param["schema"]), param["schema"])
                ]
            for name, value in query.items():
                param = op.parameters.get(("query", name))
                if param is None:
                    problems.append(f"query parameter {name!r} is not documented for {op.operation_id}")
                    continue
                problems += [
                    f"query {name}: {e}"
                    for e in fake.spec.validate(_coerce(value, param["schema"]), param["schema"])
                ]
            for (where, name), param in op.parameters.items():
                if where == "query" and param.get("required") and name not in query:
                    problems.append(f"required query parameter {name} is missing")
            body: Any = None
            if raw:
                ctype = self.headers.get("Content-Type", "")
                if not ctype.startswith("application/json"):
                    problems.append(f"body sent as {ctype!r}, expected application/json")
                try:
                    body = json.loads(raw)
                except ValueError:
                    problems.append("body is not JSON")
            record.body = body
            if op.body_schema is not None:
                if body is None and op.body_required:
                    problems.append("request body is required")
                elif body is not None:
                    problems += [f"body {e}" for e in fake.spec.validate(body, op.body_schema)]
            elif body is not None:
                problems.append(f"{op.operation_id} takes no request body")
            if not (record.authorization or "").startswith(("token ", "Bearer ")):
                problems.append("no `Authorization: token ...` header")
            if problems:
                return self._violation(f"{method} {path} ({op.operation_id}): " + "; ".join(problems))

            faults = fake.faults
            if faults.server_error.get(op.operation_id, 0) > 0:
                faults.server_error[op.operation_id] -= 1
                return 502, {"message": "Server Error"}, {}
            if faults.rate_limit.get(op.operation_id, 0) > 0:
                faults.rate_limit[op.operation_id] -= 1
                headers = {} if faults.retry_after is None else {"Retry-After": faults.retry_after}
                body_ = {
                    "message": SECONDARY_RATE_LIMIT_MESSAGE,
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                }
                return faults.rate_limit_status, body_, headers
            status, payload, headers = fake.handle(method, path, query, body)
            self._check_response(op, status, payload)
            return status, payload, headers

        def _check_response(self, op: Operation, status: int, payload: Any) -> None:
            schema = fake.spec.response_schema(op, status)
            if schema is False:
                if status not in _UNDOCUMENTED_ERRORS:
                    fake.violations.append(f"fake bug: {op.operation_id} answered undocumented {status}")
                return
            if schema is None:
                return
            errors = fake.spec.validate(payload, schema)  # type: ignore[arg-type]
            if errors:
                fake.violations.append(f"fake bug: {op.operation_id} {status} response: {errors[:3]}")

        def _violation(self, message: str) -> tuple[int, Any, dict[str, str]]:
            fake.violations.append(message)
            return 400, {"message": f"fake GitHub: {message}"}, {}

        def _reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and went away: that is what the slow fault is for

    return Handler


if __name__ == "__main__":  # pragma: no cover - manual exploration
    with FakeGitHub() as server:
        print(f"fake GitHub on {server.base_url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
