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


def main():
    os.environ["TQDM_DISABLE"] = "1"  # read by roboflow at import: no progress bars in our logs
    args = json.loads(sys.argv[1])
    key = sys.stdin.read().strip()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(key))
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    level = logging.DEBUG if args.get("debug") else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler], force=True)

    step = "importing the roboflow client"
    try:
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
    with open(args["result"], "w", encoding="utf-8") as out:
        json.dump(result, out)
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":  # `python -P -c <source>` runs it; importing it does nothing
    main()
