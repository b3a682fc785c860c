# mypy: ignore-errors
# (a standalone script for the child process: untyped, like the roboflow client it drives)
"""Runs in a child process (`python -P -c <this file's text>`): one Roboflow download with the real client.

A child process because the roboflow client sets no timeout on any request and reads `API_URL` once, at
import: the parent kills the child at its deadline, and every download starts from a fresh import. The child
imports nothing from evalaction. The API key arrives on stdin, never in argv or the environment we set; every
line the child writes (its result file, its log lines) is redacted here, and again by the parent.

Every HTTP call the client makes (it calls `requests.get/post`, a fresh `Session` each) goes through a session
that retries connection errors and 5xx answers a bounded number of times, with exponential backoff and jitter,
honouring a (capped) `Retry-After`. The client's calls are all reads, the first one a POST that only checks the
key, so retrying them is safe. The last HTTP status of each URL is recorded, so the parent can name the failure
(401/403 the key, 404 a name in the plan, 400 the format, 5xx the server).

argv[1]: JSON {workspace, project, version, format, location, result, debug, retries, backoff_s,
retry_after_max_s}.
The result file gets JSON {ok, step, type, message, body, status, url, retried}.
"""

import json
import logging
import os
import re
import sys


def redact(text, key):
    """Drop the key wherever it appears, and the values of key/token query parameters (signed export links)."""
    if text is None:
        return None
    text = str(text)
    if key:
        from urllib.parse import quote

        for form in sorted({key, quote(key, safe=""), quote(key)}, key=len, reverse=True):
            text = text.replace(form, "***")
    return re.sub(r"(?i)(api_key|key|token|signature|x-goog-signature)=[^&\s'\"]+", r"\1=***", text)


class RedactingFilter(logging.Filter):
    def __init__(self, key):
        super().__init__()
        self.key = key

    def filter(self, record):
        record.msg = redact(record.getMessage(), self.key)
        record.args = None
        return True


def install_retries(args, key, seen):
    """Every `requests` session the client opens retries transient failures (bounded) and records statuses."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=int(args.get("retries", 4)),
        connect=int(args.get("retries", 4)),
        read=int(args.get("retries", 4)),
        status=int(args.get("retries", 4)),
        other=0,
        allowed_methods=frozenset({"GET", "HEAD", "POST"}),  # POST: the key check only (see the docstring)
        status_forcelist=(429, 500, 502, 503, 504),
        backoff_factor=float(args.get("backoff_s", 0.5)),
        backoff_jitter=float(args.get("backoff_s", 0.5)),
        backoff_max=10.0,
        retry_after_max=int(args.get("retry_after_max_s", 30)),
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer goes back to the client, which raises its own error
    )
    log = logging.getLogger("roboflow.http")

    def record(response, *a, **kw):
        url = redact(response.url.split("?")[0], key)
        seen.append({"status": response.status_code, "url": url})
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        if history:
            seen[-1]["retried"] = len(history)
            log.warning(
                "%s %s: %d after %d retries", response.request.method, url, response.status_code, len(history)
            )
        return response

    class RetryingSession(requests.sessions.Session):
        def __init__(self):
            super().__init__()
            adapter = HTTPAdapter(max_retries=retry)
            self.mount("https://", adapter)
            self.mount("http://", adapter)
            self.hooks["response"].append(record)

    requests.sessions.Session = RetryingSession
    requests.Session = RetryingSession


def exit_with_parent():
    """A watchdog: when the parent dies (even by SIGKILL) this process ends too, instead of hanging on."""
    import threading
    import time

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.2)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def main():
    os.environ["TQDM_DISABLE"] = "1"  # read by roboflow at import: no progress bars in our logs
    args = json.loads(sys.argv[1])
    key = sys.stdin.read().strip()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(key))
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    level = logging.DEBUG if args.get("debug") else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler], force=True)
    exit_with_parent()
    seen = []

    step = "importing the roboflow client"
    try:
        install_retries(args, key, seen)
        import roboflow

        step = "checking the API key"
        rf = roboflow.Roboflow(api_key=key)
        step = f"reading workspace {args['workspace']!r}"
        workspace = rf.workspace(args["workspace"])
        step = f"reading project {args['project']!r}"
        project = workspace.project(args["project"])
        step = f"reading version {args['version']}"
        version = project.version(args["version"])
        step = f"downloading the {args['format']} export"
        # `location` does not exist yet, and overwrite=True anyway: download() returns at once, downloading
        # nothing, when the location exists and overwrite is False
        version.download(args["format"], location=args["location"], overwrite=True)
        result = {"ok": True, "step": "done"}
    except BaseException as exc:  # everything is reported to the parent, redacted
        body = None
        zip_path = os.path.join(args["location"], "roboflow.zip")
        if os.path.isfile(zip_path):
            with open(zip_path, "rb") as fh:
                head = fh.read(400)
            if not head.startswith(b"PK"):
                body = head.decode("utf-8", "replace")
        result = {
            "ok": False,
            "step": step,
            "type": type(exc).__name__,
            "message": redact(str(exc), key),
            "body": redact(body, key),
        }
        failed = [s for s in seen if s["status"] >= 400]
        if failed:
            result.update(failed[-1])
    result["retried"] = sum(s.get("retried", 0) for s in seen)
    with open(args["result"], "w", encoding="utf-8") as out:
        json.dump(result, out)
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":  # `python -P -c <source>` runs it; importing it does nothing
    main()
