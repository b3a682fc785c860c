"""The action's glue: settings -> event -> changed models -> pending status -> the pipeline -> publishing.

`main()` is the edge (the `entrypoint` script calls it): it reads the environment and builds the GitHub
client. `Action` receives both, runs the same `run_pipeline` as `evalaction run` once per changed model,
and publishes: the sticky PR comment, the commit status on the PR head, the job summary, the step outputs
and one annotation per failed gate. Its exit code is the verdict's (0 GO, 1 NO-GO when failing on NO-GO),
or the error's (2 bad input, 3 GitHub or internal failure).

A read-only token (fork PRs) does not fail the run: the comment is saved as `<output-dir>/pr-comment.md`
(+ `.json`) for a follow-up `workflow_run` job, and the job summary still carries the report.

Cancelling (GitHub sends SIGINT, then SIGTERM about 7.5 s later, then kills): `Action.run` holds the CLI's
signal handling (`evalaction.cli._Signals`), stops the evaluation, sets a pending commit status to `error`
("cancelled") with one POST of at most `CANCEL_TIMEOUT_S` and no retry, and exits 130 (SIGINT) or 143
(SIGTERM), never 0 or 1. In the container the entrypoint is PID 1, which the kernel spares from a signal it
has no handler for: without one, SIGTERM would be ignored and only the kill would end the step.

An override (issue 8) is the plan's `gates.override` label or workflow_dispatch input, read from the event by
`event.override_request` and handed to the pipeline, whose verdict turns NO-GO into GO and records who and
when; the comment heading and the commit status say so.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from evalaction import __version__
from evalaction.exceptions import BadInput, CannotPostComment, EvalActionError, ExternalServiceError
from evalaction.github import changes, commands
from evalaction.github.event import (
    LABEL_ACTIONS,
    EventContext,
    NoAction,
    load_event,
    override_request,
    parse_event,
)
from evalaction.github.settings import CommentMode, Settings

if TYPE_CHECKING:
    from evalaction.artifacts import GateResult, OverrideRequest, RunResult
    from evalaction.cli import _Signals
    from evalaction.datasets.sources import DataSources
    from evalaction.github.plan_trust import EvidenceChange, PlanChange
    from evalaction.github.publish import GitHubPublisher, PublishFailed, StatusState
    from evalaction.plan import LoadedPlan
    from evalaction.runners.modal import ModalCredentials

EXIT_GO, EXIT_NO_GO, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
SUPPORTED_EVENTS = ("pull_request", "workflow_dispatch")
_DECISION_RANK = {"GO": 0, "GO WITH CONDITIONS": 1, "NO-GO": 2}
CANCEL_TIMEOUT_S = 3  # the one status POST after a cancel: GitHub kills the step 7.5 s after its SIGTERM


@dataclass(frozen=True)
class Evaluation:
    """One model to evaluate: its repo-relative path, the candidate file, and the baseline (None: none)."""

    path: str
    candidate: Path
    baseline: Path | None
    note: str  # one line for the comment: which commits are compared


@dataclass
class Outcome:
    """What the run decided, for the status, the outputs and the exit code."""

    verdict: str  # GO, GO WITH CONDITIONS, NO-GO, SKIPPED, ERROR
    summary: str
    state: StatusState
    exit_code: int
    report_path: Path | None = None
    comment_url: str = ""
    status_text: str = ""  # the final commit status description; empty: "<verdict>: <summary>"
    runs: list[tuple[Evaluation, RunResult]] = field(default_factory=list)


def main(env: Mapping[str, str] | None = None, *, out: TextIO | None = None, figure_process: bool = False) -> int:
    """Run the action from the environment GitHub sets; returns the process exit code. `figure_process`: draw
    the figures in a second process (`report.drawing`; the container's entrypoint turns it on)."""
    env = os.environ if env is None else env
    stream = out if out is not None else sys.stdout
    try:
        settings = Settings.from_env(env)
    except EvalActionError as exc:
        commands.error(str(exc), title="evalaction", out=stream)
        return exc.exit_code
    token = settings.token_value()
    if token:
        commands.add_mask(token, out=stream)
    if env.get("INPUT_OVERRIDE", "").strip():
        commands.warning(
            "The `override` input was removed and is ignored: name an override label or workflow_dispatch input "
            'in the plan\'s `gates.override` instead (docs/github-action.md, "Overriding a NO-GO").',
            title="evalaction",
            out=stream,
        )
    from evalaction.environment import ServiceEnvironment

    environment = ServiceEnvironment.from_env(env)  # Roboflow key, download cache, Modal token
    sources = environment.data_sources()
    if sources.roboflow_api_key is not None:
        commands.add_mask(sources.roboflow_api_key.get_secret_value(), out=stream)
    # as the CLI and Modal's own client find them: MODAL_* (MODAL_SERVER_URL too), else the Modal config file
    modal = environment.modal_credentials()
    if modal is not None:
        commands.add_mask(modal.token_secret, out=stream)

    def publisher_for(repository: str) -> GitHubPublisher | None:
        if not token:
            return None
        from evalaction.github.publish import GitHubPublisher, make_client

        limits = settings.publish_limits()
        client = make_client(api_url=settings.api_url, token=token, limits=limits)
        return GitHubPublisher(client, repository, limits=limits)

    def cancel_publisher_for(repository: str) -> GitHubPublisher | None:
        """A publisher for the last word after a cancel: one attempt, a short timeout, no retry."""
        if not token:
            return None
        from evalaction.github.publish import GitHubPublisher, PublishLimits, make_client

        timeout_s = max(1, min(CANCEL_TIMEOUT_S, settings.publish_limits().timeout_s))
        limits = PublishLimits(timeout_s=timeout_s, attempts=1, backoff_s=0.0, network_budget_s=float(timeout_s))
        client = make_client(api_url=settings.api_url, token=token, limits=limits)
        return GitHubPublisher(client, repository, limits=limits)

    return Action(
        settings,
        publisher_for=publisher_for,
        cancel_publisher_for=cancel_publisher_for,
        out=stream,
        git_lfs=shutil.which("git-lfs"),
        sources=sources,
        modal_credentials=modal,
        comment_author=env.get("EVALACTION_COMMENT_AUTHOR", "").strip() or token_login(token),
        figure_process=figure_process,
    ).run()


GITHUB_ACTIONS_BOT = "github-actions[bot]"


def token_login(token: str | None) -> str | None:
    """The login the token comments as, when its kind says so without an API call.

    `ghs_` is an installation token: GITHUB_TOKEN, whose comments are by `github-actions[bot]` (another
    GitHub App's token comments as `<app-slug>[bot]`: set EVALACTION_COMMENT_AUTHOR). Such a token cannot
    call GET /user. Other tokens (`ghp_`, `github_pat_`, `gho_`, `ghu_`) act as a user: None here, and the
    action asks GET /user.
    """
    if token and token.startswith("ghs_"):
        return GITHUB_ACTIONS_BOT
    return None


class Action:
    """One run of the action; every side-effecting collaborator is handed in."""

    def __init__(
        self,
        settings: Settings,
        *,
        publisher_for: Callable[[str], GitHubPublisher | None],
        out: TextIO,
        git_lfs: str | None,
        sources: DataSources | None = None,
        modal_credentials: ModalCredentials | None = None,
        comment_author: str | None = GITHUB_ACTIONS_BOT,
        cancel_publisher_for: Callable[[str], GitHubPublisher | None] | None = None,
        figure_process: bool = False,
    ) -> None:
        self.settings = settings
        self.figure_process = figure_process
        self.comment_author = comment_author  # None: ask GitHub (GET /user) on first use
        self.sources = sources
        self.modal_credentials = modal_credentials
        self._publisher_for = publisher_for
        self.out = out
        self.git_lfs = git_lfs
        workspace = Path(settings.workspace) if settings.workspace else Path.cwd()
        self.repo_dir = (workspace / settings.working_directory).resolve()
        self.out_dir = self.repo_dir / settings.output_dir
        self.publisher: GitHubPublisher | None = None
        self.marker = ""
        self._loaded: LoadedPlan | None = None  # the trusted plan, read once
        self.plan_change: PlanChange | None = None  # how the PR's plan differs from the base commit's
        self.plan_note = ""  # first adoption: the PR's own plan is used
        self.evidence_change: EvidenceChange | None = None  # test data the PR changes (base copy used)
        self._evidence_dir: Path | None = None  # the base commit's copy of it, inside the checkout
        self._changed: list[changes.FileChange] | None = None  # the PR's changed files, listed once
        self.publish_failures: list[PublishFailed] = []  # what could not be published, for the exit code
        self._status_forbidden = False  # one 403 on statuses is enough: do not try (and warn) again
        # Cancelling: the publisher for the one status POST (None: self.publisher), the commit whose status
        # this run set to pending and has not yet settled, and the signals received while running.
        self._cancel_publisher_for = cancel_publisher_for
        self._repository = settings.repository or ""  # the event's, once known (run)
        self._pending_sha: str | None = None
        self._signals: _Signals | None = None

    # ------------------------------------------------------------------ entry

    def run(self) -> int:
        """The exit code: the verdict's, the error's, or 130/143 when SIGINT/SIGTERM cancelled the run."""
        from evalaction.cli import _Signals, _Terminated

        with _Signals() as signals:
            self._signals = signals
            try:
                code = self._run()
            except (KeyboardInterrupt, _Terminated):
                return self._cancelled(signals)
            if signals.received:  # a library swallowed the interrupt: the run must not count
                return self._cancelled(signals)
            return code

    def _run(self) -> int:
        s = self.settings
        if s.event_name not in SUPPORTED_EVENTS:
            return self._skip(parse_event(s.event_name, {}))  # type: ignore[arg-type]
        try:
            if not s.event_path:
                raise BadInput("GITHUB_EVENT_PATH is empty; run inside GitHub Actions (it names the event file).")
            ctx = parse_event(
                s.event_name,
                load_event(s.event_path),
                github_sha=s.sha,
                default_baseline_ref=s.baseline_ref,
            )
        except EvalActionError as exc:
            commands.error(str(exc), title="evalaction", out=self.out)
            self._outputs(Outcome("ERROR", str(exc), "error", exc.exit_code))
            return exc.exit_code
        if isinstance(ctx, NoAction):
            return self._skip(ctx)
        if ctx.action in LABEL_ACTIONS and (other := self._other_label(ctx)) is not None:
            return self._skip(other)

        from evalaction.github.publish import comment_marker

        self.marker = comment_marker(s.config)
        self._repository = s.repository or ctx.repository
        self.publisher = self._publisher_for(self._repository)
        if ctx.event_name == "workflow_dispatch" and ctx.pr_number is not None:
            try:
                ctx = self._confirm_pull(ctx)
            except EvalActionError as exc:  # no status: the PR's head is unknown, and main's is not the PR's
                commands.error(str(exc), title="evalaction", out=self.out)
                self._summary(f"## ⛔ ERROR — `{s.config}`\n\n{exc}\n")
                self._outputs(Outcome("ERROR", str(exc), "error", exc.exit_code))
                return exc.exit_code
        self._pending_sha = ctx.head_sha  # from here a cancel settles the status (`_cancelled`)
        self._status(ctx, "pending", f"Evaluating {s.config}…")
        try:
            outcome = self._evaluate(ctx)
        except EvalActionError as exc:
            outcome = Outcome("ERROR", str(exc), "error", exc.exit_code)
            commands.error(str(exc), title="evalaction", out=self.out)
        except Exception as exc:  # an internal error: one line here; the traceback would help only us
            first = str(exc).splitlines()[0] if str(exc) else ""
            message = f"internal error: {type(exc).__name__}: {first}"
            outcome = Outcome("ERROR", message, "error", EXIT_INTERNAL)
            commands.error(message, title="evalaction", out=self.out)
        if self._signals is not None and self._signals.received:
            raise KeyboardInterrupt  # an error that the interrupt caused is the cancel, not the run's result
        if outcome.verdict == "ERROR":
            self._error_state(ctx, outcome)
        self._status(ctx, outcome.state, outcome.status_text or f"{outcome.verdict}: {outcome.summary}")
        self._pending_sha = None  # settled: a cancel from here on leaves the verdict's status alone
        self._not_published(ctx, outcome)
        self._outputs(outcome)
        return outcome.exit_code

    def _cancelled(self, signals: _Signals) -> int:
        """The job was cancelled: a pending status becomes `error` (one short POST), and the exit code is 130/143.

        No status is set when none was pending, there is no token, or the API already failed on the network or
        refused statuses in this run; a second signal while this runs stops it.
        """
        from evalaction.cli import EXIT_SIGTERM, _Terminated

        name = "SIGTERM" if signals.exit_code == EXIT_SIGTERM else "SIGINT"
        message = f"cancelled ({name}) before a verdict"
        try:
            sha, publisher = self._pending_sha, self.publisher
            self._pending_sha = None
            if sha is not None and publisher is not None and publisher.down is None and not self._status_forbidden:
                quick = self._cancel_publisher_for(self._repository) if self._cancel_publisher_for else None
                try:
                    (quick or publisher).set_status(
                        sha,
                        "error",
                        f"Cancelled ({name}) before a verdict; re-run the job",
                        context=self.settings.status_context,
                        target_url=self.settings.run_url,
                    )
                    self._say(f"commit status on {sha[:12]} set to error (cancelled)")
                except Exception as exc:  # the process is ending: say it, do not retry
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    commands.warning(first, title="evalaction: commit status not set", out=self.out)
            commands.error(
                f"evalaction was {message}; nothing was decided. Re-run the job.", title="evalaction", out=self.out
            )
            self._summary(f"## ⛔ CANCELLED — `{self.settings.config}`\n\nThe job was {message}.\n")
            self._outputs(Outcome("ERROR", message, "error", signals.exit_code))
        except (KeyboardInterrupt, _Terminated):
            pass  # a second signal: stop here, the exit code is the first signal's
        return signals.exit_code

    def _confirm_pull(self, ctx: EventContext) -> EventContext:
        """workflow_dispatch with `pr-number`: evaluate that PR's head as data under this (trusted) checkout's plan.

        The head is fetched as `refs/pull/N/head`; the model is read from it with `git show` (nothing of the PR
        is checked out or run), the status goes on the PR's head commit and the comment on the PR.
        """
        import dataclasses

        assert ctx.pr_number is not None
        sha = changes.fetch_pull_head(self.repo_dir, ctx.pr_number)
        self._say(f"PR #{ctx.pr_number}: head `{sha[:12]}` fetched as refs/pull/{ctx.pr_number}/head")
        return dataclasses.replace(ctx, head_sha=sha, candidate=sha, head_ref=f"pull/{ctx.pr_number}/head")

    def _error_state(self, ctx: EventContext, outcome: Outcome) -> None:
        """The comment and the summary describe the newest commit: it failed, an earlier verdict is stale."""
        short = ctx.head_sha[:7]
        line = " ".join(outcome.summary.split())
        lines = [
            f"## ⛔ ERROR — `{self.settings.config}` on `{short}`",
            "",
            f"The evaluation of `{short}` failed (exit code {outcome.exit_code}): {line}",
        ]
        link = f"[Run]({self.settings.run_url}) · " if self.settings.run_url else ""
        summary = "\n".join([*lines, "", f"{link}evalaction {__version__}"]) + "\n"
        self._summary(summary)
        if (
            self.publisher is None
            or ctx.pr_number is None
            or self.settings.comment_mode is CommentMode.NEVER
            or self.publisher.down is not None
        ):
            return
        from evalaction.github.publish import fit_comment

        try:
            author = self._author()
            previous = self.publisher.find_comment(ctx.pr_number, self.marker, author=author)
            if previous is None:
                return  # nothing stale to correct; the status and the summary say it
            stale = _stale_part(previous.body or "", self.marker)
            body_lines = [self.marker, *lines]
            if stale:
                body_lines += [
                    "",
                    f"> The verdict below was for an earlier commit and is **stale**: it does not describe `{short}`.",
                    "",
                    "<details><summary>Previous verdict (stale)</summary>",
                    "",
                    stale.strip("\n"),
                    "",
                    "</details>",
                ]
            body_lines += ["", f"{link}evalaction {__version__}"]
            body = fit_comment("\n".join(body_lines) + "\n", report_url=self.settings.run_url)
            result = self.publisher.upsert_comment(ctx.pr_number, body, self.marker, create=False, author=author)
            if result is not None:
                outcome.comment_url = result.url
                self._say(f"comment {result.action} to the error state: {result.url}")
        except PublishFailed as exc:
            self._publish_failed(exc, title="evalaction: PR comment not updated")

    def _not_published(self, ctx: EventContext, outcome: Outcome) -> None:
        """Publishing failed for a reason other than a fork's read-only token: exit 3, loudly."""
        failures = [f for f in self.publish_failures if not (f.kind == "forbidden" and ctx.is_fork)]
        if not failures:
            return
        first = [f for f in failures if not str(f).startswith("Skipped:")] or failures
        skipped = len(failures) - len(first)
        what = "; ".join(dict.fromkeys(str(f) for f in first))
        if skipped:
            what += f" ({skipped} later call(s) skipped: the API was down)"
        message = f"The verdict ({outcome.verdict}) was NOT published to GitHub: {what}"
        commands.error(message, title="evalaction: verdict not published", out=self.out)
        self._summary(f"> ❌ **The verdict ({outcome.verdict}) was not published to GitHub.** {what}\n")
        outcome.exit_code = EXIT_INTERNAL

    def _publish_failed(self, exc: PublishFailed, *, title: str) -> None:
        self.publish_failures.append(exc)
        commands.warning(str(exc), title=title, out=self.out)

    def _author(self) -> str:
        """The login our comments carry: given, known from the token's kind, or GET /user."""
        if self.comment_author is None:
            assert self.publisher is not None
            login = self.publisher.authenticated_login()
            if login is None:
                commands.warning(
                    f"Cannot tell which login the token comments as (GET /user failed); assuming "
                    f"{GITHUB_ACTIONS_BOT}. Set EVALACTION_COMMENT_AUTHOR to the token's login.",
                    title="evalaction",
                    out=self.out,
                )
            self.comment_author = login or GITHUB_ACTIONS_BOT
        return self.comment_author

    def _other_label(self, ctx: EventContext) -> NoAction | None:
        """A `labeled` / `unlabeled` event for a label other than the plan's override label changes nothing."""
        try:
            spec = self._trusted_plan(ctx).plan.gates.override
        except EvalActionError:
            return None  # evaluate, so the plan's error is reported with a status
        if spec is not None and spec.label == ctx.event_label:
            return None
        return NoAction(
            f"pull_request `{ctx.action}` of label `{ctx.event_label}`, which is not the override label of "
            f"{self.settings.config} (`gates.override.label`); nothing to do."
        )

    def _skip(self, reason: NoAction) -> int:
        commands.notice(reason.reason, title="evalaction", out=self.out)
        self._outputs(Outcome("SKIPPED", reason.reason, "success", EXIT_GO))
        return EXIT_GO

    # ------------------------------------------------------------------ evaluation

    def _trusted_plan(self, ctx: EventContext) -> LoadedPlan:
        """The plan that decides the verdict: on `pull_request`, the base commit's (plan_trust.py).

        Its data and model paths resolve in the checkout. The PR's own plan is only compared with it
        (`self.plan_change`); with no plan on the base commit (first adoption) the PR's plan is used.
        """
        if self._loaded is not None:
            return self._loaded
        from evalaction.github.plan_trust import PlanChange, first_adoption_note, plan_diff
        from evalaction.plan import load_plan, load_plan_text, parse_plan

        s = self.settings
        path = self.repo_dir / s.config
        if ctx.event_name != "pull_request" or ctx.base_sha is None:
            self._loaded = load_plan(path)
            return self._loaded
        base = ctx.base_sha
        if not changes.has_commit(self.repo_dir, base):
            changes.fetch_commit(self.repo_dir, base)  # a shallow clone: best effort, read_at names the fix
        text = changes.read_at(self.repo_dir, base, s.config)
        label = f"`{base[:7]}` ({ctx.base_ref})" if ctx.base_ref else f"`{base[:7]}`"
        if text is None:
            self.plan_note = first_adoption_note(s.config, label)
            self._loaded = load_plan(path)
            return self._loaded
        trusted = load_plan_text(text, path)
        if not path.is_file():
            self.plan_change = PlanChange(s.config, label, pr_plan_error="this PR deletes it.")
        else:
            try:
                pr_plan = parse_plan(path.read_text(encoding="utf-8", errors="replace"), path)
            except EvalActionError as exc:
                self.plan_change = PlanChange(s.config, label, pr_plan_error=str(exc))
            else:
                self.plan_change = plan_diff(trusted.plan, pr_plan, config=s.config, base_label=label)
        self._loaded = trusted
        return trusted

    def _evaluate(self, ctx: EventContext) -> Outcome:
        s = self.settings
        loaded = self._trusted_plan(ctx)
        if self.plan_change is not None:
            loosened = ", ".join(c.name for c in self.plan_change.loosens)
            commands.warning(
                f"This PR changes {s.config}; the verdict uses the base commit's plan"
                + (f" (the PR loosens: {loosened})" if loosened else "")
                + ". The comment lists the changes.",
                title="evalaction: plan changed by this PR",
                out=self.out,
            )
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        override, refused = override_request(
            ctx, loaded.plan.gates.override, now=now, fallback_actor=s.actor or ""
        )
        if refused:
            commands.warning(refused, title="evalaction: override not applied", out=self.out)
        elif override is not None:
            self._say(f"override requested {override.describe()}")
        globs = s.models or (self._repo_relative(loaded.resolve(loaded.plan.models.candidate.path)),)
        scratch = Path(tempfile.mkdtemp(prefix="evalaction-"))
        try:
            with commands.group("evalaction: changed models", out=self.out):
                evaluations, notes = self._plan_evaluations(ctx, globs, scratch)
                for line in notes:
                    self._say(line)
                for e in evaluations:
                    self._say(f"{e.path}: {e.note}")
            if not evaluations:
                return self._no_change(ctx, globs, notes)
            loaded = self._trusted_evidence(ctx, loaded)
            runs = [
                (e, self._run_one(loaded, e, ctx, override, multiple=len(evaluations) > 1)) for e in evaluations
            ]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            self._drop_trusted_evidence()
        return self._publish(ctx, loaded, runs, refused)

    def _plan_evaluations(
        self, ctx: EventContext, globs: tuple[str, ...], scratch: Path
    ) -> tuple[list[Evaluation], list[str]]:
        if ctx.event_name == "workflow_dispatch":
            return [self._dispatch_evaluation(ctx, globs, scratch)], []
        assert ctx.base_sha is not None  # pull_request always has one
        base = (
            changes.resolve_commit(self.repo_dir, self.settings.baseline_ref)
            if self.settings.baseline_ref
            else ctx.base_sha
        )
        # the plan's globs are relative to the working directory, the diff's paths to the top of the work tree
        in_folder = changes.within_folder(self._changed_files(ctx), changes.folder_prefix(self.repo_dir))
        found = changes.model_changes(in_folder, globs)
        notes = [f"{c.path}: deleted by this PR, nothing to evaluate" for c in found if c.status == "deleted"]
        evaluations: list[Evaluation] = []
        for change in (c for c in found if c.status != "deleted"):
            candidate = self.repo_dir / change.path
            # The checkout is the merge commit on pull_request; its copy of a file the PR changed is the PR's.
            changes.check_not_lfs_pointer(candidate)
            baseline = changes.extract_baseline(
                self.repo_dir, base, change, scratch / str(len(evaluations)), git_lfs=self.git_lfs
            )
            if baseline is None:
                note = f"new in this PR at `{ctx.head_sha[:7]}`: no baseline, so gates against it are skipped"
            else:
                ref = self.settings.baseline_ref or ctx.base_ref
                note = f"candidate `{ctx.head_sha[:7]}` ({ctx.head_ref}) vs baseline `{base[:7]}` ({ref})"
                if change.previous_path:
                    note += f", previously `{change.previous_path}`"
            evaluations.append(Evaluation(change.path, candidate, baseline, note))
        return evaluations, notes

    def _changed_files(self, ctx: EventContext) -> list[changes.FileChange]:
        if self._changed is None:
            self._changed = self._pr_changes(ctx)
        return self._changed

    def _trusted_evidence(self, ctx: EventContext, loaded: LoadedPlan) -> LoadedPlan:
        """The plan, its test set (and training data for leakage) read from the base commit where the PR changes it.

        A PR could otherwise relabel `data/test.csv` to match its model. The base commit's copy of each changed
        evidence path is written (`git archive`, LFS smudged) to a folder inside the checkout, and the plan's
        field points there; `check_loaded` runs the plan's path rules again. A path the base commit lacks (a new
        test set) keeps the PR's copy; `self.evidence_change` tells the comment either way.
        """
        import os

        from evalaction.plan.load import check_loaded

        change = self._evidence_change(ctx, loaded)
        if change is None or not change.from_base:
            return loaded
        assert ctx.base_sha is not None
        base = ctx.base_sha
        commands.warning(
            f"This PR changes the test data ({', '.join(change.files[:5])}{' …' if len(change.files) > 5 else ''}); "
            "the verdict uses the base commit's copy. The comment says more.",
            title="evalaction: test data changed by this PR",
            out=self.out,
        )
        root = changes.toplevel(self.repo_dir)  # covers are relative to it, as the PR's changed paths are
        # A new folder with an unguessable name: a PR cannot have committed it (or a symlink in its place).
        # The report names the test set there.
        scratch = Path(tempfile.mkdtemp(prefix=f".evalaction-base-{base[:7]}-", dir=root))
        self._evidence_dir = scratch
        changes.materialise(root, base, sorted({e.cover for e in change.from_base}), scratch, git_lfs=self.git_lfs)
        ds = loaded.plan.dataset
        update: dict[str, str] = {}
        for e in change.from_base:
            value = getattr(ds, e.field)
            relative = Path(os.path.normpath(loaded.base_dir / value)).relative_to(root)
            update[e.field] = Path(os.path.relpath(scratch / relative, loaded.base_dir)).as_posix()
        plan = loaded.plan.model_copy(update={"dataset": ds.model_copy(update=update)})
        return check_loaded(loaded.model_copy(update={"plan": plan}))

    def _evidence_change(self, ctx: EventContext, loaded: LoadedPlan) -> EvidenceChange | None:
        """Which of the plan's evidence paths the PR changes, and which of them the base commit has."""
        if ctx.event_name != "pull_request" or ctx.base_sha is None:
            return None
        from evalaction.github.plan_trust import EvidenceChange, evidence, touches

        root = changes.toplevel(self.repo_dir)  # `git diff` names paths from the top of the work tree
        items = evidence(loaded, root)
        if not items:
            return None
        changed = self._changed_files(ctx)

        def hit(e_cover: str) -> list[str]:
            return [p for c in changed for p in (c.path, c.previous_path) if p is not None and touches(p, e_cover)]

        touched = [e for e in items if hit(e.cover)]
        if not touched:
            return None
        base = ctx.base_sha
        label = f"`{base[:7]}` ({ctx.base_ref})" if ctx.base_ref else f"`{base[:7]}`"
        change = EvidenceChange(label, sorted({p for e in touched for p in hit(e.cover)}))
        for e in touched:
            at_base = changes.exists_at(root, base, e.cover)
            (change.from_base if at_base else change.from_pr).append(e)
        self.evidence_change = change
        return change

    def _drop_trusted_evidence(self) -> None:
        if self._evidence_dir is not None:
            shutil.rmtree(self._evidence_dir, ignore_errors=True)
            self._evidence_dir = None

    def _pr_changes(self, ctx: EventContext) -> list[changes.FileChange]:
        assert ctx.base_sha is not None and ctx.pr_number is not None
        if not changes.is_shallow(self.repo_dir):
            try:
                return changes.changes_from_git(self.repo_dir, ctx.base_sha, ctx.head_sha)
            except changes.GitCommandFailed:
                if self.publisher is None:
                    raise
        elif self.publisher is None:
            raise changes.GitCommandFailed(
                f"{self.repo_dir} is a shallow clone and no token was given for the PR files API; "
                "check out with `fetch-depth: 0` on actions/checkout."
            )
        # Shallow history: the API lists the files; the base commit is fetched for the baselines.
        assert self.publisher is not None
        listed = changes.changes_from_api(self.publisher.pr_files(ctx.pr_number))
        changes.fetch_commit(self.repo_dir, ctx.base_sha)
        return listed

    def _dispatch_evaluation(self, ctx: EventContext, globs: tuple[str, ...], scratch: Path) -> Evaluation:
        assert ctx.base_ref is not None
        default_path = next((g for g in globs if not any(c in g for c in "*?[")), None)
        requested = ctx.candidate
        if requested and (self.repo_dir / requested).is_file():
            path, candidate, where = requested, self.repo_dir / requested, f"`{ctx.head_sha[:7]}`"
        else:
            if default_path is None:
                raise BadInput(
                    f"workflow_dispatch needs one model path, but the `models` input holds only globs "
                    f"({', '.join(globs)}); pass `candidate: <path>` or set `models` to a path."
                )
            path = default_path
            if requested:  # a ref: the model as it is at that ref
                sha = changes.resolve_commit(self.repo_dir, requested)
                extracted = changes.extract_baseline(
                    self.repo_dir,
                    sha,
                    changes.FileChange(path, "modified"),
                    scratch / "candidate",
                    git_lfs=self.git_lfs,
                )
                assert extracted is not None
                label = f"PR #{ctx.pr_number} head" if ctx.pr_number is not None else f"`{requested}`"
                candidate, where = extracted, f"{label} @ `{sha[:7]}`"
            else:
                candidate, where = self.repo_dir / path, f"`{ctx.head_sha[:7]}`"
        changes.check_not_lfs_pointer(candidate)
        base = changes.resolve_commit(self.repo_dir, ctx.base_ref)
        if changes.exists_at(self.repo_dir, base, path):
            baseline = changes.extract_baseline(
                self.repo_dir,
                base,
                changes.FileChange(path, "modified"),
                scratch / "baseline",
                git_lfs=self.git_lfs,
            )
            note = f"candidate {where} vs baseline `{base[:7]}` ({ctx.base_ref})"
        else:
            baseline = None
            note = f"candidate {where}; `{path}` does not exist at `{ctx.base_ref}`, so there is no baseline"
        return Evaluation(path, candidate, baseline, note)

    def _run_one(
        self,
        loaded: LoadedPlan,
        evaluation: Evaluation,
        ctx: EventContext,
        override: OverrideRequest | None,
        *,
        multiple: bool,
    ) -> RunResult:
        from evalaction.pipeline import PipelineHooks, run_pipeline
        from evalaction.stages.inference import InferenceOptions

        out_dir = self.out_dir / _slug(evaluation.path) if multiple else self.out_dir

        def started(stage: str) -> None:
            self._say(commands.command("group", f"evalaction: {stage} ({evaluation.path})"))

        def finished(stage: str, seconds: float) -> None:
            self._say(f"{stage} took {seconds:.2f} s")
            self._say(commands.command("endgroup"))

        from evalaction.report import drawing

        with drawing.in_background(self.figure_process):  # figures drawn in a second process (entrypoint)
            return run_pipeline(
                loaded=loaded,
                out_dir=out_dir,
                candidate_path=evaluation.candidate,
                baseline_path=evaluation.baseline,
                hooks=PipelineHooks(stage_started=started, stage_finished=finished),
                run_url=self.settings.run_url,
                sources=self.sources,
                pr_number=ctx.pr_number,
                commit=ctx.head_sha,
                override=override,
                # A fork's weights are untrusted: pickle-based formats are refused even when the plan allows them.
                inference_options=InferenceOptions(
                    untrusted=ctx.is_fork, modal_credentials=self.modal_credentials
                ),
                # plan `history:`: a PR's base branch; workflow_dispatch: the evaluated ref ("how did we get here")
                history_ref=ctx.base_sha if ctx.is_pull_request else _dispatch_history_ref(ctx, self.repo_dir),
            )

    # ------------------------------------------------------------------ publishing

    def _publish(
        self, ctx: EventContext, loaded: LoadedPlan, runs: list[tuple[Evaluation, RunResult]], refused: str
    ) -> Outcome:
        s = self.settings
        decision = max((r.verdict.decision for _, r in runs), key=lambda d: _DECISION_RANK[d])
        # Every run got the same request; it is applied where it turned the verdict from NO-GO into GO.
        applied = next((o for _, r in runs if (o := _applied_override(r)) is not None), None)
        if len(runs) == 1:
            summary = runs[0][1].verdict.summary
        else:
            summary = "; ".join(f"{e.path}: {r.verdict.decision}" for e, r in runs)
        summary = " ".join(summary.split())
        fail_on_no_go = s.fail_on_no_go if s.fail_on_no_go is not None else loaded.plan.gates.fail_on_no_go
        if decision == "NO-GO":
            state: StatusState = "failure"
            exit_code = EXIT_NO_GO if fail_on_no_go else EXIT_GO
        else:
            state, exit_code = "success", EXIT_GO
        status_text = f"{decision}: {summary}"
        if applied is not None:
            # Who and when come first: the description is cut at 140 characters.
            overridden_gates = sorted({g.name for _, r in runs for g in r.verdict.failed if g.blocking})
            status_text = (
                f"{decision}, NO-GO overridden by {applied.brief()}; failed: {', '.join(overridden_gates)}"
            )

        reports = []
        for evaluation, result in runs:
            report = (self._run_dir(evaluation, len(runs)) / "report.md").read_text(encoding="utf-8")
            heading, _, rest = report.partition("\n")
            # The report's heading names the plan's candidate path; name the evaluated file when it differs.
            planned = self._repo_relative(loaded.resolve(loaded.plan.models.candidate.path))
            prefix = "" if evaluation.path == planned else f"`{evaluation.path}`: "
            reports.append(f"{heading}\n\n_{prefix}{evaluation.note}._\n{rest}")
            self._annotate(evaluation, result.verdict.gates, _applied_override(result))
        if refused:
            heading, _, rest = reports[0].partition("\n")
            reports[0] = f"{heading}\n\n> ⚠️ {refused}\n{rest}"
        if self.plan_note:
            heading, _, rest = reports[0].partition("\n")
            reports[0] = f"{heading}\n\n> {self.plan_note}\n{rest}"
        if self.plan_change is not None:
            heading, _, rest = reports[0].partition("\n")
            reports[0] = f"{heading}\n\n{self._plan_section(runs, decision)}\n{rest}"
        if self.evidence_change is not None:
            from evalaction.github.plan_trust import evidence_section

            heading, _, rest = reports[0].partition("\n")
            reports[0] = f"{heading}\n\n{evidence_section(self.evidence_change)}\n{rest}"
        markdown = "\n\n---\n\n".join(r.rstrip("\n") for r in reports) + "\n"
        if len(runs) == 1:
            report_path = self._run_dir(runs[0][0], 1) / "report.md"
        else:
            report_path = self.out_dir / "report.md"
            report_path.write_text(markdown, encoding="utf-8")

        outcome = Outcome(
            decision, summary, state, exit_code, report_path=report_path, runs=runs, status_text=status_text
        )
        outcome.comment_url = self._comment(ctx, markdown, changed=True, status=(state, status_text))
        self._summary(markdown)
        return outcome

    def _plan_section(self, runs: list[tuple[Evaluation, RunResult]], decision: str) -> str:
        from evalaction.github.plan_trust import section, verdict_under

        change = self.plan_change
        assert change is not None
        under: str | None = None
        if change.pr_plan is not None:
            decided = [verdict_under(change.pr_plan, r, r.verdict.override) for _, r in runs]
            if all(d is not None for d in decided):
                under = max((d for d in decided if d is not None), key=lambda d: _DECISION_RANK[d])
        spec = self._loaded.plan.gates.override if self._loaded is not None else None
        return section(change, decision=decision, under_pr=under, override_label=spec.label if spec else None)

    def _no_change(self, ctx: EventContext, globs: tuple[str, ...], notes: list[str]) -> Outcome:
        patterns = ", ".join(f"`{g}`" for g in globs)
        summary = f"no model weights changed (watching {', '.join(globs)})"
        lines = [
            f"## ➖ No model weights changed — `{self.settings.config}`",
            "",
            f"This pull request changes no file matching {patterns}, so there is nothing to evaluate.",
        ]
        lines += [f"- {n}" for n in notes]
        if self._loaded is not None and (data := self._evidence_change(ctx, self._loaded)) is not None:
            from evalaction.github.plan_trust import evidence_section

            lines += ["", evidence_section(data, evaluated=False)]
        if self.plan_change is not None:
            from evalaction.github.plan_trust import section

            spec = self._loaded.plan.gates.override if self._loaded is not None else None
            text = section(
                self.plan_change, decision="", under_pr=None, override_label=spec.label if spec else None
            )
            lines += ["", text.replace("The verdict above uses", "The next evaluation uses")]
        link = f"[Run]({self.settings.run_url}) · " if self.settings.run_url else ""
        lines += ["", f"{link}evalaction {__version__}"]
        markdown = "\n".join(lines) + "\n"
        outcome = Outcome("SKIPPED", summary, "success", EXIT_GO)
        outcome.comment_url = self._comment(ctx, markdown, changed=False, status=("success", summary))
        self._summary(markdown)
        return outcome

    def _comment(self, ctx: EventContext, markdown: str, *, changed: bool, status: tuple[str, str]) -> str:
        from evalaction.github.publish import (
            PublishFailed,
            fit_comment,
            save_comment_for_later,
            status_description,
        )

        mode = self.settings.comment_mode
        if mode is CommentMode.NEVER or ctx.pr_number is None:
            return ""
        body = fit_comment(f"{self.marker}\n{markdown}", report_url=self.settings.run_url)
        meta_status = {
            "state": status[0],
            "description": status_description(status[1]),
            "context": self.settings.status_context,
        }
        create = mode is CommentMode.ALWAYS or changed
        if self.publisher is None:
            reason = "no github-token was given"
        else:
            try:
                with commands.group("evalaction: PR comment", out=self.out):
                    result = self.publisher.upsert_comment(
                        ctx.pr_number, body, self.marker, create=create, author=self._author()
                    )
                    if result is not None:
                        self._say(f"comment {result.action}: {result.url}")
                return result.url if result is not None else ""
            except (CannotPostComment, PublishFailed) as exc:
                reason = str(exc)
                if isinstance(exc, PublishFailed):
                    self.publish_failures.append(exc)
        if not create:
            return ""
        path = save_comment_for_later(
            self.out_dir, body=body, pr_number=ctx.pr_number, marker=self.marker, reason=reason, status=meta_status
        )
        saved = self._workspace_relative(path)
        read_only = self.publisher is None or any(f.kind == "forbidden" for f in self.publish_failures)
        where = (
            f"The comment was saved to {saved} for a workflow_run job (see examples/workflows/fork-safe-comment.yml)"
            if read_only
            else f"The comment was saved to {saved}"
        )
        commands.warning(
            f"{reason} {where}; the job summary has the report.",
            title="evalaction: PR comment not posted",
            out=self.out,
        )
        return ""

    def _status(self, ctx: EventContext, state: StatusState, description: str) -> None:
        if self.publisher is None or self._status_forbidden:
            return
        from evalaction.github.publish import PublishFailed

        try:
            self.publisher.set_status(
                ctx.head_sha,
                state,
                description,
                context=self.settings.status_context,
                target_url=self.settings.run_url,
            )
        except PublishFailed as exc:
            # The comment and the summary still say the verdict; _not_published decides the exit code.
            self._status_forbidden = exc.kind == "forbidden"
            self._publish_failed(exc, title="evalaction: commit status not set")
        except ExternalServiceError as exc:
            commands.warning(str(exc), title="evalaction: commit status not set", out=self.out)

    def _annotate(self, evaluation: Evaluation, gates: list[GateResult], override: OverrideRequest | None) -> None:
        """One annotation per failed gate: an error when it blocks, a warning when it warns or was overridden."""
        for gate in gates:
            if gate.status != "fail":
                continue
            message = f"{gate.rule}: {gate.reason}"
            title = f"evalaction gate {gate.name} failed"
            if gate.blocking and override is not None:
                commands.warning(
                    f"{message} (NO-GO overridden {override.describe()})",
                    title=title,
                    file=evaluation.path,
                    out=self.out,
                )
            elif gate.blocking:
                commands.error(message, title=title, file=evaluation.path, out=self.out)
            else:
                commands.warning(message, title=title, file=evaluation.path, out=self.out)

    def _summary(self, markdown: str) -> None:
        if self.settings.step_summary_path:
            commands.append_summary(self.settings.step_summary_path, markdown)

    def _outputs(self, outcome: Outcome) -> None:
        self._say(f"evalaction: {outcome.verdict} — {outcome.summary}")
        path = self.settings.output_path
        if not path:
            return
        commands.set_output(path, "verdict", outcome.verdict)
        commands.set_output(path, "summary", outcome.summary)
        report = self._workspace_relative(outcome.report_path) if outcome.report_path else ""
        commands.set_output(path, "report-path", report)
        commands.set_output(path, "comment-url", outcome.comment_url)

    # ------------------------------------------------------------------ helpers

    def _run_dir(self, evaluation: Evaluation, count: int) -> Path:
        return self.out_dir / _slug(evaluation.path) if count > 1 else self.out_dir

    def _repo_relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.repo_dir).as_posix()
        except ValueError:
            raise BadInput(
                f"The plan's candidate model {path} is outside the repository {self.repo_dir}; "
                "keep models inside the repository or set the `models` input."
            ) from None

    def _workspace_relative(self, path: Path) -> str:
        workspace = Path(self.settings.workspace).resolve() if self.settings.workspace else Path.cwd().resolve()
        try:
            return path.resolve().relative_to(workspace).as_posix()
        except ValueError:
            return str(path)

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def _applied_override(result: RunResult) -> OverrideRequest | None:
    """The override that turned this run's NO-GO into GO; None when there was none or it changed nothing."""
    return result.verdict.override if result.verdict.decision_without_override is not None else None


def _stale_part(body: str, marker: str) -> str:
    """The previous comment without its marker; for an earlier error comment, only its stale verdict."""
    text = body.split("\n", 1)[1] if body.startswith(marker) and "\n" in body else body
    start = text.find("<details><summary>Previous verdict (stale)</summary>")
    if text.startswith("## ⛔ ERROR"):
        if start < 0:
            return ""
        inner = text[start:].split("\n", 1)[1] if "\n" in text[start:] else ""
        return inner.rsplit("</details>", 1)[0]
    return text


def _slug(path: str) -> str:
    """A folder name for one model's outputs when a PR changes several."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path).strip("_") or "model"


def _dispatch_history_ref(ctx: EventContext, repo_dir: Path) -> str:
    """The ref whose history workflow_dispatch reads: the `candidate` input when it names a ref, else the head."""
    if ctx.candidate and not (repo_dir / ctx.candidate).is_file():
        return ctx.candidate
    return ctx.head_sha
