# mypy: ignore-errors
# (a standalone script for the child process: untyped, like the roboflow client it drives)
"""Runs in a child process (`python -P -c <this file's text>`): one Roboflow download with the real client.

A child process because the roboflow client sets no timeout on any request and reads `API_URL` once, at
import: the parent kills the child at its deadline, and every download starts from a fresh import. The child
imports nothing from evalaction. The API key arrives on stdin, never in argv or the environment we set; every
line the child writes (its result file, its log lines) is redacted here, and again by the parent.

argv[1]: JSON {workspace, project, version, format, location, result, debug}.
The result file gets JSON {ok, step, type, message, body}.
"""

import json
import logging
import os
import re
import sys

os.environ["TQDM_DISABLE"] = "1"  # read by roboflow at import: no progress bars in our logs

ARGS = json.loads(sys.argv[1])
KEY = sys.stdin.read().strip()


def redact(text):
    """Drop the key wherever it appears, and every URL's query string (signed export links carry tokens)."""
    if text is None:
        return None
    text = str(text)
    if KEY:
        from urllib.parse import quote

        for form in {KEY, quote(KEY, safe=""), quote(KEY)}:
            text = text.replace(form, "***")
    text = re.sub(r"(?i)(api_key|key|token|signature|x-goog-signature)=[^&\s'\"]+", r"\1=***", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record):
        record.msg = redact(record.getMessage())
        record.args = None
        return True


handler = logging.StreamHandler(sys.stderr)
handler.addFilter(RedactingFilter())
handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
logging.basicConfig(level=logging.DEBUG if ARGS.get("debug") else logging.WARNING, handlers=[handler], force=True)

step = "importing the roboflow client"
result = {"ok": False}
try:
    import roboflow

    step = "checking the API key"
    rf = roboflow.Roboflow(api_key=KEY)
    step = f"reading workspace {ARGS['workspace']!r}"
    workspace = rf.workspace(ARGS["workspace"])
    step = f"reading project {ARGS['project']!r}"
    project = workspace.project(ARGS["project"])
    step = f"reading version {ARGS['version']}"
    version = project.version(ARGS["version"])
    step = f"downloading the {ARGS['format']} export"
    # `location` does not exist yet, and overwrite=True anyway: download() returns at once, downloading
    # nothing, when the location exists and overwrite is False
    version.download(ARGS["format"], location=ARGS["location"], overwrite=True)
    result = {"ok": True, "step": "done"}
except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent, redacted
    body = None
    zip_path = os.path.join(ARGS["location"], "roboflow.zip")
    if os.path.isfile(zip_path):
        with open(zip_path, "rb") as fh:
            head = fh.read(400)
        if not head.startswith(b"PK"):
            body = head.decode("utf-8", "replace")
    result = {
        "ok": False,
        "step": step,
        "type": type(exc).__name__,
        "message": redact(str(exc)),
        "body": redact(body),
    }
with open(ARGS["result"], "w", encoding="utf-8") as fh:
    json.dump(result, fh)
sys.stdout.flush()
sys.stderr.flush()
