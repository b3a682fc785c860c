"""The trusted plan: on `pull_request` the gates come from the base commit, never from the PR itself.

A PR can edit `evalaction.yml` as easily as it edits the weights, so a plan read from the PR's checkout lets
it loosen its own gates (`recall[7]: ">= 0.85"` -> `">= 0.5"`) and pass. The action therefore evaluates with
the plan as it is on the PR's base commit (`git show base:evalaction.yml`); its data and model paths still
resolve in the checked-out workspace. The PR's own plan is only compared with it: `plan_diff` lists the gates
it changes (old -> new, and whether that loosens or tightens them) and `verdict_under` re-decides the same
evidence under the PR's gates, for the comment's "Plan changed by this PR" section. A loosening takes effect
when the PR is merged; before that only the plan's audited override (`gates.override`) turns a NO-GO into GO.

A base commit without the plan is a first adoption: the PR's plan is used, and the comment says so.

The evidence is trusted the same way: `evidence` lists the files and folders the plan reads as test (and
training) data; where the PR changes one, the action evaluates on the base commit's copy and
`evidence_section` tells the comment ("Test data changed by this PR").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from evalaction.artifacts import OverrideRequest, RunResult
    from evalaction.plan import Gates, Plan

Effect = Literal["loosens", "tightens", "changes"]
_EMOJI = {"GO": "✅", "GO WITH CONDITIONS": "⚠️", "NO-GO": "❌"}


@dataclass(frozen=True)
class RuleChange:
    """One gate or setting the PR's plan changes; `old`/`new` empty when it adds or removes it."""

    name: str
    old: str
    new: str
    effect: Effect


@dataclass
class PlanChange:
    """How the PR's plan differs from the trusted (base) plan."""

    config: str  # repo-relative plan path
    base: str  # short sha and ref of the base commit, for the comment
    gates: list[RuleChange] = field(default_factory=list)
    settings: list[RuleChange] = field(default_factory=list)  # everything else the plan says, not gates
    pr_plan: Plan | None = None  # None: the PR's plan does not load
    pr_plan_error: str = ""

    @property
    def loosens(self) -> list[RuleChange]:
        return [c for c in self.gates if c.effect == "loosens"]


# ---------------------------------------------------------------------------------------- rules


def _threshold(g: Any) -> str:
    return str(g.rule) + ("" if g.blocking else " (warning)")


def _baseline(g: Any) -> str:
    return f"{g.rule}, margin {g.margin:g}" + ("" if g.blocking else " (warning)")


def _max(g: Any) -> str:
    return f"<= {g.max:g}" + ("" if g.blocking else " (warning)")


def _curation(g: Any) -> str:
    if hasattr(g, "max"):
        text = f"max {g.max}" + (f", distance {g.distance}" if hasattr(g, "distance") else "")
    else:
        text = f"min {g.min:g}"
    return text + ("" if g.blocking else " (warning)")


def _gate_table(gates: Gates) -> dict[str, tuple[str, Any]]:
    """Every gate of a plan: `kind.name` -> (rendered rule, the gate object)."""
    rows: dict[str, tuple[str, Any]] = {}
    for ref, t in gates.thresholds.items():
        rows[f"thresholds.{ref}"] = (_threshold(t), t)
    for ref, b in gates.vs_baseline.items():
        rows[f"vs_baseline.{ref}"] = (_baseline(b), b)
    for budget_name, budget in gates.budgets.items():
        rows[f"budgets.{budget_name}"] = (_max(budget), budget)
    for ref, e in gates.errors.items():
        rows[f"errors.{ref}"] = (_max(e), e)
    for name, c in gates.curation.items():
        rows[f"curation.{name}"] = (_curation(c), c)
    return rows


def _sign(old: float, new: float, *, higher_is_looser: bool) -> int:
    """+1 loosens, -1 tightens, 0 unchanged."""
    if new == old:
        return 0
    return 1 if (new > old) == higher_is_looser else -1


def _gate_effect(name: str, old: Any, new: Any) -> Effect:
    """Whether changing gate `old` into `new` lets more models pass (loosens) or fewer (tightens)."""
    signs = [_sign(float(old.blocking), float(new.blocking), higher_is_looser=False)]
    kind = name.split(".", 1)[0]
    if kind == "thresholds":
        if old.op != new.op:
            return "changes"
        signs.append(_sign(old.value, new.value, higher_is_looser=new.op in ("<", "<=")))
    elif kind == "vs_baseline":
        order = {"better": 2, "not_worse": 1}
        if old.rule != new.rule:
            if old.rule not in order or new.rule not in order:
                return "changes"
            signs.append(_sign(order[old.rule], order[new.rule], higher_is_looser=False))
        signs.append(_sign(old.margin, new.margin, higher_is_looser=new.rule != "better"))
    elif hasattr(new, "max") and hasattr(old, "max"):
        signs.append(_sign(old.max, new.max, higher_is_looser=True))
        if hasattr(new, "distance"):
            signs.append(_sign(old.distance, new.distance, higher_is_looser=False))
    elif hasattr(new, "min") and hasattr(old, "min"):
        signs.append(_sign(old.min, new.min, higher_is_looser=False))
    if any(s > 0 for s in signs) and any(s < 0 for s in signs):
        return "changes"
    if any(s > 0 for s in signs):
        return "loosens"
    if any(s < 0 for s in signs):
        return "tightens"
    return "changes"


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: node}


def _setting_effect(key: str, old: Any, new: Any) -> Effect:
    if key == "gates.fail_on_no_go":
        return "loosens" if old is not False and new is False else "tightens"
    if key == "gates.allow_no_gates":
        return "loosens" if new is True else "tightens"
    if key.startswith("gates.override"):
        return "loosens" if old in (None, "") else "changes"
    return "changes"


def plan_diff(base: Plan, pr: Plan, *, config: str, base_label: str) -> PlanChange | None:
    """The PR plan's changes to the gates (rule by rule) and to every other setting; None when equal."""
    change = PlanChange(config=config, base=base_label, pr_plan=pr)
    old_gates, new_gates = _gate_table(base.gates), _gate_table(pr.gates)
    for name in [*old_gates, *(n for n in new_gates if n not in old_gates)]:
        old, new = old_gates.get(name), new_gates.get(name)
        if old is not None and new is not None:
            if old[0] != new[0]:
                change.gates.append(RuleChange(name, old[0], new[0], _gate_effect(name, old[1], new[1])))
        elif old is not None:
            change.gates.append(RuleChange(name, old[0], "", "loosens"))
        elif new is not None:
            change.gates.append(RuleChange(name, "", new[0], "tightens"))
    old_flat = _flatten(base.model_dump(mode="json"))
    new_flat = _flatten(pr.model_dump(mode="json"))
    gate_kinds = ("gates.thresholds", "gates.vs_baseline", "gates.budgets", "gates.errors", "gates.curation")
    for key in [*old_flat, *(k for k in new_flat if k not in old_flat)]:
        if key.startswith(gate_kinds):
            continue  # listed rule by rule above
        old_value, new_value = old_flat.get(key), new_flat.get(key)
        if old_value != new_value:
            change.settings.append(
                RuleChange(key, _show(old_value), _show(new_value), _setting_effect(key, old_value, new_value))
            )
    if not change.gates and not change.settings:
        return None
    return change


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def verdict_under(pr: Plan, result: RunResult, override: OverrideRequest | None) -> str | None:
    """The decision the same evidence gets under the PR's gates; None when it cannot be re-decided."""
    from evalaction.stages.verdict import run_verdict

    try:
        plan = result.plan.model_copy(update={"plan": pr})
        compare = result.compare
        if compare is not None:
            # The compare stage decided each rule with the base plan's margin; where the PR changes a rule,
            # let the verdict judge it afresh from the paired interval.
            base_rules = result.plan.plan.gates.vs_baseline
            changed = {ref for ref, g in pr.gates.vs_baseline.items() if base_rules.get(ref) != g}
            compare = compare.model_copy(
                update={
                    "comparisons": [
                        c.model_copy(update={"passed": None}) if c.metric in changed else c
                        for c in compare.comparisons
                    ]
                }
            )
        verdict = run_verdict(
            plan=plan,
            metrics=result.metrics,
            compare=compare,
            readiness=result.readiness,
            override=override,
        )
    except Exception:  # a gate on a metric the base plan did not compute, say: say so instead
        return None
    return str(verdict.decision)


# ---------------------------------------------------------------------------------------- markdown


def _cell(text: str) -> str:
    return f"`{text}`" if text else "—"


def section(change: PlanChange, *, decision: str, under_pr: str | None, override_label: str | None) -> str:
    """The comment's "Plan changed by this PR" section (markdown, no trailing newline).

    `decision` empty: nothing was evaluated (no model changed), so no verdict line.
    """
    lines = [
        "### ⚠️ Plan changed by this PR",
        "",
        f"This PR changes `{change.config}`. The verdict above uses the plan of the base commit {change.base}: "
        "a PR cannot change the gates that judge it. Its plan applies once it is merged.",
    ]
    if change.pr_plan is None:
        lines += ["", f"This PR's plan does not load: {change.pr_plan_error}"]
    if change.gates:
        lines += ["", "| gate | base plan (used) | this PR | effect |", "|---|---|---|---|"]
        for c in change.gates:
            lines.append(f"| `{c.name}` | {_cell(c.old)} | {_cell(c.new)} | {c.effect} |")
    if change.settings:
        lines += ["", "| other setting | base plan (used) | this PR | effect |", "|---|---|---|---|"]
        for c in change.settings[:20]:
            lines.append(f"| `{c.name}` | {_cell(c.old)} | {_cell(c.new)} | {c.effect} |")
        if len(change.settings) > 20:
            lines.append(f"| … {len(change.settings) - 20} more | | | |")
    if change.pr_plan is not None and decision:
        lines.append("")
        if under_pr is None:
            lines.append("The verdict under this PR's plan could not be computed from this run's evidence.")
        elif under_pr == decision:
            lines.append(
                f"Under this PR's plan the verdict would be the same: {_EMOJI.get(under_pr, '')} {under_pr}."
            )
        else:
            lines.append(
                f"Under this PR's plan the verdict would be **{_EMOJI.get(under_pr, '')} {under_pr}** "
                f"(base plan: {_EMOJI.get(decision, '')} {decision})."
            )
    if change.loosens:
        how = (
            f"the plan's override label `{override_label}` (recorded with who and when)"
            if override_label
            else "the audited override (`gates.override`, which the base plan does not name)"
        )
        lines += ["", f"Loosened gates do not count before the merge; to ship before that, use {how}."]
    return "\n".join(lines)


def first_adoption_note(config: str, base: str) -> str:
    return (
        f"ℹ️ First adoption: `{config}` does not exist on the base commit {base}, so this PR's own plan is "
        "used. After the merge, every PR is judged by the plan on its base branch."
    )


# ---------------------------------------------------------------------------------------- evidence

# The plan's fields that name the evidence a verdict is decided on: the test set (a file, or a folder such as
# an image folder or an export with splits), the COCO images, and the training data the leakage gates read.
EVIDENCE_FIELDS = ("path", "images_dir", "train_path", "train_manifest")


@dataclass(frozen=True)
class Evidence:
    """One evidence field of the trusted plan: `cover` is the file or folder (repo-relative) it reads."""

    field: str  # dataset.<field>
    cover: str


@dataclass
class EvidenceChange:
    """The evidence files a PR changes, and which fields were evaluated on the base commit's copy instead."""

    base: str  # short sha and ref, for the comment
    files: list[str] = field(default_factory=list)  # repo-relative, as the PR changes them
    from_base: list[Evidence] = field(default_factory=list)  # evaluated on the base commit's copy
    from_pr: list[Evidence] = field(default_factory=list)  # absent at the base commit: the PR's copy is used


def evidence(loaded: Any, root: Any) -> list[Evidence]:
    """The files and folders the plan reads as evidence, relative to `root` (the top of the git work tree, where
    `git diff` names paths from; paths outside it are skipped: the plan rules already refuse them)."""
    import os
    from pathlib import Path, PurePosixPath

    ds = loaded.plan.dataset
    found: list[Evidence] = []
    for name in EVIDENCE_FIELDS:
        value = getattr(ds, name, None)
        if not value:
            continue
        target = Path(os.path.normpath(loaded.base_dir / value))  # the path git knows, symlinks not followed
        try:
            cover = PurePosixPath(target.relative_to(Path(root)).as_posix())
        except ValueError:
            continue
        coco_file = name == "path" and ds.resolved_format == "coco" and not ds.images_dir and target.is_file()
        if coco_file and cover.parent != PurePosixPath("."):
            cover = cover.parent  # the COCO file's images sit next to it unless `images_dir` says otherwise
        found.append(Evidence(name, str(cover)))
    return found


def touches(path: str, cover: str) -> bool:
    return path == cover or path.startswith(cover.rstrip("/") + "/")


def evidence_section(change: EvidenceChange, *, evaluated: bool = True) -> str:
    """The comment's "Test data changed by this PR" section (markdown, no trailing newline).

    `evaluated` False: no model changed, so nothing was judged; the data PR the section recommends.
    """
    lines = [f"### {'⚠️' if evaluated else 'ℹ️'} Test data changed by this PR", ""]
    shown = change.files[:20]
    lines += [f"- `{f}`" for f in shown]
    if len(change.files) > len(shown):
        lines.append(f"- … {len(change.files) - len(shown)} more")
    if not evaluated:
        lines += ["", "No model changed, so nothing was judged on it; once merged, the model PRs after it are."]
        return "\n".join(lines)
    if change.from_base:
        used = ", ".join(f"`dataset.{e.field}` (`{e.cover}`)" for e in change.from_base)
        lines += [
            "",
            f"The verdict above used {used} as it is on the base commit {change.base}, not this PR's copy: a PR "
            "cannot change the evidence that judges it. To change the test data, land it in its own PR first; the "
            "model PRs after it are judged on the new data.",
        ]
    if change.from_pr:
        new = ", ".join(f"`dataset.{e.field}` (`{e.cover}`)" for e in change.from_pr)
        lines += [
            "",
            f"ℹ️ The base commit {change.base} has no {new}, so this PR's copy is used (a new test set).",
        ]
    return "\n".join(lines)
