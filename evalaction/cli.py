"""The `evalaction` command: the only place that maps errors to exit codes.

Exit codes: 0 GO (or GO WITH CONDITIONS); 1 NO-GO when the plan's `fail_on_no_go` is true; 2 bad input;
3 internal or external-service error. Errors are one line on stderr; a traceback only with `--debug`.
Heavy modules are imported inside the commands, so `evalaction --help` stays fast.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from evalaction import __version__

EXIT_GO, EXIT_NO_GO, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 128 + 2, 128 + 15  # the shell's convention: 128 + the signal's number

F = TypeVar("F", bound=Callable[..., Any])
_FIGURE_PROCESS = "figure_process"  # key of the root context's `obj` that `console` sets


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so `except Exception` cannot swallow it and `finally` still runs."""


class _Signals:
    """SIGINT/SIGTERM while a command runs: raise (so the run stops and marks its folder incomplete) and remember
    it, so an interrupt that a library swallows still ends the command with 130/143, never with a verdict."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        import signal

        self.received = self.received or signum
        if signum == signal.SIGTERM:
            raise _Terminated
        raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def exit_code(self) -> int:
        import signal

        return EXIT_SIGTERM if self.received == signal.SIGTERM else EXIT_SIGINT


def _interrupted(signals: _Signals, out: Path | None) -> None:
    name = "SIGTERM" if signals.exit_code == EXIT_SIGTERM else "SIGINT"
    where = f"; {out}/ is marked incomplete" if out is not None else ""
    click.echo(f"error: interrupted by {name}{where}; re-run the command", err=True)
    sys.exit(signals.exit_code)


def _os_error(exc: OSError) -> str | None:
    """A full disk or a read-only file system is the user's to fix (exit 2); other OSErrors stay internal."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on the device"
    elif exc.errno == errno.EROFS:
        what = "a read-only file system"
    else:
        return None
    where = f" writing {exc.filename}" if exc.filename else ""
    return f"{what}{where}; free some space or choose another `-o` folder"


def _handle_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from evalaction.exceptions import EvalActionError

        debug = click.get_current_context().find_root().params.get("debug", False)
        out = kwargs.get("out") if fn.__name__ == "run" else None  # only `run` marks its folder
        with _Signals() as signals:
            try:
                result = fn(*args, **kwargs)
            except (KeyboardInterrupt, _Terminated):
                if debug:
                    traceback.print_exc()
                _interrupted(signals, out)
            except EvalActionError as exc:
                if signals.received:
                    _interrupted(signals, out)
                if debug:
                    traceback.print_exc()
                click.echo(f"error: {exc}", err=True)
                sys.exit(exc.exit_code)
            except (click.exceptions.Exit, click.ClickException, SystemExit):
                if signals.received:
                    _interrupted(signals, out)
                raise
            except Exception as exc:  # an internal error: say so in one line, traceback with --debug
                if signals.received:
                    _interrupted(signals, out)
                if debug:
                    traceback.print_exc()
                message = _os_error(exc) if isinstance(exc, OSError) else None
                if message is not None:
                    click.echo(f"error: {message}", err=True)
                    sys.exit(EXIT_BAD_INPUT)
                first = str(exc).splitlines()[0] if str(exc) else ""
                click.echo(
                    f"internal error: {type(exc).__name__}: {first} (re-run with --debug for the traceback)",
                    err=True,
                )
                sys.exit(EXIT_INTERNAL)
            if signals.received:  # a library swallowed the interrupt: the run must not count
                if out is not None:
                    from evalaction.pipeline import mark_incomplete

                    mark_incomplete(out)
                _interrupted(signals, out)
            return result

    return wrapper  # type: ignore[return-value]


def _environment() -> Any:
    """Credentials and the cache folder for external services, from the environment (only the CLI reads it)."""
    import os

    from evalaction.environment import ServiceEnvironment

    return ServiceEnvironment.from_env(os.environ)


def _data_sources(environment: Any = None) -> Any:
    """The Roboflow API key and the download cache."""
    debug = click.get_current_context().find_root().params.get("debug", False)
    return (environment or _environment()).data_sources(debug=debug)


def _configure_logging(debug: bool) -> None:
    """evalaction's log on stderr: warnings (a W&B failure, a retried download), and with --debug everything,
    including the Roboflow client's HTTP requests (redacted before they are logged)."""
    import logging

    logger = logging.getLogger("evalaction")
    handler = next((h for h in logger.handlers if getattr(h, "_evalaction", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._evalaction = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    handler.setStream(sys.stderr)  # type: ignore[attr-defined]  # this invocation's stderr (a test's runner swaps it)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)


_config_option = click.option(
    "-c",
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=Path("evalaction.yml"),
    show_default=True,
    help="The evaluation plan.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evalaction")
@click.option("--debug", is_flag=True, help="Show tracebacks and the debug log (HTTP requests, keys redacted).")
def main(debug: bool) -> None:
    """Decide, with evidence, whether a new model version may ship."""
    _configure_logging(debug)


@main.command()
@_config_option
@click.option(
    "--baseline-error",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="The baseline's error rate on this test set when known (e.g. 0.03 from its last run): sharpens the "
    "power estimate of each gate against the baseline; default: from the plan's accuracy threshold, else 5 %.",
)
@_handle_errors
def plan(config: Path, baseline_error: float | None) -> None:
    """Validate the plan and print it as markdown, with the test set's card and each gate's power."""
    from evalaction.datasets import load_plan_datasets
    from evalaction.plan import load_plan
    from evalaction.report.plan_card import render_plan_markdown
    from evalaction.stages.plan import run_plan

    loaded = load_plan(config)
    if loaded.plan.task == "detection":
        from evalaction.detection.stages import load_plan_ground_truth, run_detection_plan

        gt = load_plan_ground_truth(loaded, _data_sources())
        click.echo(render_plan_markdown(run_detection_plan(loaded=loaded, gt=gt)[0]))
        return
    dataset, train = load_plan_datasets(loaded, _data_sources())
    card = run_plan(loaded=loaded, dataset=dataset, train=train)
    click.echo(render_plan_markdown(card, baseline_error=baseline_error))


@main.command()
@_handle_errors
def schema() -> None:
    """Print the JSON Schema of the plan (for editor completion)."""
    import json

    from evalaction.plan import plan_json_schema

    click.echo(json.dumps(plan_json_schema(), indent=2))


@main.command()
@_config_option
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Output folder for reports and stage artifacts.",
)
@click.option("--candidate", type=click.Path(path_type=Path), default=None, help="Override the candidate's path.")
@click.option("--baseline", type=click.Path(path_type=Path), default=None, help="Override the baseline's path.")
@click.option(
    "--untrusted",
    is_flag=True,
    help="The models come from an untrusted source (a fork's pull request): never unpickle, even if allowed.",
)
@_handle_errors
def run(config: Path, out: Path, candidate: Path | None, baseline: Path | None, untrusted: bool) -> None:
    """Run every stage: plan, inference, metrics, errors, compare, readiness, verdict, report."""
    from evalaction.report import drawing

    # the console script draws figures in a second process, started first so it is ready by the metrics stage;
    # `main` called in-process (tests, CliRunner) draws them inline
    with drawing.in_background(bool((click.get_current_context().find_root().obj or {}).get(_FIGURE_PROCESS))):
        _run(config, out, candidate, baseline, untrusted)


def _run(config: Path, out: Path, candidate: Path | None, baseline: Path | None, untrusted: bool) -> None:
    from evalaction.pipeline import PipelineHooks, check_output_folder, run_pipeline
    from evalaction.plan import load_plan
    from evalaction.runners.progress import terminal_progress
    from evalaction.stages.inference import InferenceOptions

    loaded = load_plan(config)
    check_output_folder(out)
    hooks = PipelineHooks(stage_finished=lambda stage, s: click.echo(f"  {stage:<10} {s:7.2f} s", err=True))
    if click.get_current_context().find_root().params.get("debug", False):
        hooks = _timed_imports_hooks()
    kwargs: dict[str, Any] = {}
    if baseline is not None:
        kwargs["baseline_path"] = baseline.resolve()
    click.echo(f"evalaction {__version__}: {loaded.path.name} -> {out}/", err=True)
    environment = _environment()
    options = InferenceOptions(
        untrusted=untrusted,
        progress=terminal_progress(sys.stderr),
        # as Modal's client finds them: MODAL_TOKEN_* / MODAL_SERVER_URL, else the active ~/.modal.toml profile
        modal_credentials=environment.modal_credentials() if loaded.plan.inference.modal else None,
    )
    result = run_pipeline(
        loaded=loaded,
        out_dir=out,
        candidate_path=candidate.resolve() if candidate else None,
        hooks=hooks,
        sources=_data_sources(environment),
        inference_options=options,
        **kwargs,
    )
    total = sum(t.seconds for t in result.timings)
    click.echo(f"  {'total':<10} {total:7.2f} s", err=True)
    v = result.verdict
    click.echo(f"verdict: {v.decision} — {v.summary}")
    click.echo(f"report: {out / 'report.html'} (also report.md, results.json)")
    if v.decision == "NO-GO" and loaded.plan.gates.fail_on_no_go:
        sys.exit(EXIT_NO_GO)


def _timed_imports_hooks() -> Any:
    """--debug: each stage's time split into module imports and work (issue #16)."""
    from evalaction.import_clock import ImportClock
    from evalaction.pipeline import PipelineHooks

    clock = ImportClock().install()
    at_start: dict[str, float] = {}

    def finished(stage: str, s: float) -> None:
        imports = clock.seconds - at_start.get(stage, clock.seconds)
        click.echo(f"  {stage:<10} {s:7.2f} s  (imports {imports:5.2f} s, work {s - imports:6.2f} s)", err=True)

    return PipelineHooks(
        stage_started=lambda stage: at_start.update({stage: clock.seconds}), stage_finished=finished
    )


@main.command()
@click.argument("out", type=click.Path(path_type=Path), default=Path("out"))
@_handle_errors
def report(out: Path) -> None:
    """Re-render report.md and report.html from a saved run's results.json (nothing is re-run)."""
    from evalaction.pipeline import check_complete
    from evalaction.report.render import load_run, write_reports

    check_complete(out)
    run_result = load_run(out)
    paths = write_reports(run_result, out)
    click.echo(f"verdict: {run_result.verdict.decision}")
    click.echo(f"report: {paths['html']} (also report.md, results.json)")


def console() -> None:
    """The `evalaction` console script: `main` drawing the run's figures in a second process
    (`evalaction.report.drawing`), then `gc.freeze()` before the interpreter exits.

    At exit CPython collects garbage over every object the run created or imported (ONNX Runtime, pyarrow,
    matplotlib, ...): ~0.5 s of a 4 s small run (issue #16). Frozen objects are skipped; nothing is lost, since
    every report, artifact and log handler is written and closed before the command returns (atexit handlers,
    logging's included, still run). Only the console script does either: `main` called in-process (tests,
    CliRunner) draws inline and leaves the caller's garbage collector alone.
    """
    import gc

    try:
        main(obj={_FIGURE_PROCESS: True})
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    console()
