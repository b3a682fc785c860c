"""A catalogue of hostile and careless inputs: each one exits 2 (130/143 for signals) with exactly one stderr line
naming the file or field, never a traceback, never a file's contents.

Most cases run `evalaction plan` in-process (click's CliRunner) on a plan folder built in tmp_path; only the
memory bomb and the signals need a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evalaction.cli import main
from tests.conftest import ROOT, VALID_PLAN

SECRET = "ghp_s3cr3tT0kenThatMustNeverBePrinted"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_bad_input(result: Result, *needles: str, code: int = 2) -> str:
    """Exit `code`, exactly one stderr line, every needle in it, no traceback, no secret; returns the line."""
    err = result.stderr
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert "Traceback" not in result.output and "internal error" not in line, line
    assert SECRET not in result.output, line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def write_plan(folder: Path, text: str | bytes) -> Path:
    plan = folder / "evalaction.yml"
    if isinstance(text, bytes):
        plan.write_bytes(text)
    else:
        plan.write_text(text)
    return plan


# ---------------------------------------------------------------------------------------------------------------
# The plan's YAML: syntax, encoding, size, depth, anchors, duplicate keys

ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)

YAML_CASES: list[tuple[str, str | bytes, tuple[str, ...]]] = [
    ("alias bomb", ALIAS_BOMB, ("line 1", "anchor `&a`", "anchors and aliases")),
    ("alias to a key", VALID_PLAN + "defaults: &d {x: 1}\nother: *d\n", ("anchor `&d`",)),
    ("alias without anchor", VALID_PLAN + "other: *nothing\n", ("evalaction.yml line 19", "alias `*nothing`")),
    ("merge key", VALID_PLAN.replace("  baseline:\n", "  baseline: &b\n"), ("line 11", "anchor `&b`")),
    (
        "duplicate threshold",
        VALID_PLAN + "    macro_f1: '>= 0.1'\n    accuracy: '>= 0.0'\n",
        ("line 20", "`accuracy` twice (lines 18 and 20)", "keep one"),
    ),
    ("duplicate task", VALID_PLAN + "task: binary\n", ("line 19", "`task` twice (lines 2 and 19)")),
    ("duplicate in flow mapping", VALID_PLAN + "inference: {seed: 1, seed: 2}\n", ("line 19", "`seed` twice")),
    (
        "duplicate nested key",
        _edit(VALID_PLAN, "    outputs: logits\n", "    outputs: logits\n    outputs: probabilities\n"),
        ("line 11", "`outputs` twice (lines 10 and 11)"),
    ),
    (
        "duplicate top section",
        VALID_PLAN + "metrics:\n  primary: accuracy\n",
        ("`metrics` twice (lines 13 and 19)",),
    ),
    ("deep block nesting", "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60)), ("deeper than 32",)),
    ("10,000-deep flow", "[" * 10_000 + "]" * 10_000, ("line 1", "deeper than 32")),
    ("10,000-deep mapping", "{a: " * 10_000 + "1" + "}" * 10_000, ("deeper than 32",)),
    ("non-UTF-8 byte", VALID_PLAN.encode().replace(b"accuracy", b"accur\xe9cy", 1), ("line 14", "UTF-8", "0xe9")),
    ("latin-1 plan", "name: caf\xe9\n".encode("latin-1") + VALID_PLAN.encode(), ("line 1", "UTF-8")),
    ("utf-16 plan", VALID_PLAN.encode("utf-16"), ("UTF-8",)),
    ("binary file", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), ("line 1", "binary file")),
    ("NUL byte late", VALID_PLAN.encode() + b"\x00", ("line 19", "binary file")),
    ("control character", VALID_PLAN + "name: a\x01b\n", ("line 19", "not valid YAML", "special characters")),
    ("oversized plan", VALID_PLAN + "# " + "x" * (1 << 20) + "\n", ("under 1024 KiB", "found 1024 KiB")),
    ("tab indentation", VALID_PLAN + "inference:\n\tseed: 1\n", ("line 20", "not valid YAML")),
    ("unclosed bracket", VALID_PLAN + "inference: {seed: 1\n", ("not valid YAML",)),
    ("bad indentation", _edit(VALID_PLAN, "  label_column: label", "   label_column: label"), ("not valid YAML",)),
    (
        "python object tag",
        VALID_PLAN + "name: !!python/object/apply:os.system [id]\n",
        ("line 19", "not valid YAML"),
    ),
    ("unknown tag", VALID_PLAN + "name: !include secrets.yml\n", ("line 19", "not valid YAML")),
    ("huge integer", VALID_PLAN + "inference:\n  seed: " + "9" * 5000 + "\n", ("evalaction.yml", "fix the value")),
    ("a list, not a mapping", "- task: binary\n", ("expected a mapping", "found list")),
    ("a scalar", "just text\n", ("expected a mapping", "found str")),
    ("empty file", "", ("expected a mapping", "found NoneType")),
    ("only comments", "# nothing\n", ("expected a mapping",)),
    ("two documents", VALID_PLAN + "---\ntask: binary\n", ("not valid YAML",)),
    ("complex key", VALID_PLAN + "? [a, b]\n: 1\n", ("evalaction.yml",)),
    (
        "misspelt metrics",
        _edit(VALID_PLAN, "metrics:", "metircs:"),
        ("line 13", "`metrics`", "did you mean `metrics`"),
    ),
    ("misspelt task", _edit(VALID_PLAN, "task:", "tsak:"), ("line 2", "`task`", "did you mean `task`")),
    ("misspelt dataset", _edit(VALID_PLAN, "dataset:", "datset:"), ("line 3", "did you mean `dataset`")),
    ("misspelt models", _edit(VALID_PLAN, "models:", "model:"), ("line 7", "did you mean `models`")),
    ("misspelt primary", _edit(VALID_PLAN, "  primary:", "  primray:"), ("line 14", "did you mean `primary`")),
    (
        "misspelt candidate",
        _edit(VALID_PLAN, "  candidate:", "  candidat:"),
        ("line 8", "did you mean `candidate`"),
    ),
    (
        "misspelt path",
        _edit(VALID_PLAN, "    path: models/candidate.onnx", "    pth: models/candidate.onnx"),
        ("line 9",),
    ),
    ("unknown key", VALID_PLAN + "thresholds: {}\n", ("line 19", "`thresholds`: unknown key")),
    ("wrong version", _edit(VALID_PLAN, "version: 1", "version: 2"), ("line 1", "`version`")),
    ("task as list", _edit(VALID_PLAN, "task: multiclass", "task: [multiclass]"), ("line 2", "`task`")),
    ("batch size text", VALID_PLAN + "inference:\n  batch_size: lots\n", ("line 20", "`inference.batch_size`")),
    ("batch size negative", VALID_PLAN + "inference:\n  batch_size: -1\n", ("line 20", "`inference.batch_size`")),
    ("alpha too large", VALID_PLAN + "compare:\n  alpha: 0.9\n", ("line 20", "`compare.alpha`")),
    ("bootstrap too few", VALID_PLAN + "compare:\n  n_bootstrap: 5\n", ("line 20", "`compare.n_bootstrap`")),
    ("threshold not a rule", _edit(VALID_PLAN, '">= 0.9"', '"at least 0.9"'), ("line 18", "gates.thresholds")),
    (
        "unknown metric",
        _edit(VALID_PLAN, "primary: accuracy", "primary: acuracy"),
        ("line 14", "did you mean `accuracy`"),
    ),
    (
        "regression metric",
        _edit(VALID_PLAN, "primary: accuracy", "primary: rmse"),
        ("`rmse` is a regression metric",),
    ),
    ("unknown budget", VALID_PLAN + "  budgets:\n    latency_p96_ms: 5\n", ("line 20", "gates.budgets")),
    ("device typo", VALID_PLAN + "inference:\n  device: gpu\n", ("line 20", "`inference.device`")),
    ("outputs typo", _edit(VALID_PLAN, "outputs: logits", "outputs: logit"), ("line 10", "did you mean `logits`")),
    (
        "mean without std",
        VALID_PLAN.replace("    outputs: logits\n", "    outputs: logits\n    preprocessing: {mean: [0.5]}\n"),
        ("line 11", "`std`"),
    ),
    (
        "negative std",
        VALID_PLAN.replace(
            "    outputs: logits\n", "    outputs: logits\n    preprocessing: {mean: [0.5], std: [-1]}\n"
        ),
        ("line 11", "std"),
    ),
    (
        "zero input shape",
        VALID_PLAN.replace(
            "    outputs: logits\n", "    outputs: logits\n    preprocessing: {input_shape: [0, 8]}\n"
        ),
        ("line 11", "input_shape"),
    ),
    (
        "equivalent without margin",
        VALID_PLAN + "  vs_baseline:\n    accuracy: equivalent\n",
        ("line 20", "margin"),
    ),
    (
        "slice gate without column",
        VALID_PLAN + "    accuracy[ink=light]: '>= 0.5'\n",
        ("line 19", "slice_columns"),
    ),
    ("per-class of a global metric", VALID_PLAN + "    accuracy[3]: '>= 0.5'\n", ("line 19", "drop `[...]`")),
    (
        "leakage without training data",
        VALID_PLAN + "  curation:\n    leakage: 0\n",
        ("gates.curation", "train_path"),
    ),
    (
        "slice values stray",
        _edit(VALID_PLAN, "  id_column: id\n", "  id_column: id\n  slice_values: {ink: [a]}\n"),
        ("line 3", "slice_columns"),
    ),
    (
        "duplicate class names",
        _edit(VALID_PLAN, "  id_column: id\n", "  id_column: id\n  class_names: ['0', '1', '0']\n"),
        ("line 7", "`dataset.class_names`", "'0' twice"),
    ),
    ("errors gate key", VALID_PLAN + "  errors:\n    flips: 3\n", ("line 19", "negative_flips")),
    ("override not a mapping", VALID_PLAN + "  override: yes\n", ("line 19", "gates.override")),
    (
        "roboflow bad slug",
        _edit(VALID_PLAN, "  path: data/test.csv\n", "  roboflow: {workspace: ../etc, project: p, version: 1}\n"),
        ("line 4", "slug"),
    ),
    (
        "path and roboflow",
        _edit(
            VALID_PLAN,
            "  path: data/test.csv\n",
            "  path: data/test.csv\n  roboflow: {workspace: w, project: p, version: 1}\n",
        ),
        ("exactly one",),
    ),
    (
        "module not a reference",
        VALID_PLAN.replace("    outputs: logits\n", "    outputs: logits\n    module: 'os.system(1)'\n"),
        ("line 11", "`package.module:Class`"),
    ),
]


@pytest.mark.parametrize(("text", "needles"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_bad_plan_yaml(plan_dir: Path, text: str | bytes, needles: tuple[str, ...]) -> None:
    plan = write_plan(plan_dir, text)
    assert_bad_input(invoke("plan", "-c", str(plan)), "evalaction.yml", *needles)


def test_alias_bomb_is_refused_fast_and_small(tmp_path: Path) -> None:
    """The 289-byte bomb of issue 14 took 21.6 GB and 124 s; now it is refused before anything expands."""
    plan = write_plan(tmp_path, ALIAS_BOMB)
    code = (
        "import resource, sys, time\n"
        "from click.testing import CliRunner\n"
        "from evalaction.cli import main\n"
        # what the command imports anyway (numpy, pyarrow...): the bomb's cost is what comes on top
        "import evalaction.config, evalaction.datasets, evalaction.stages.plan, evalaction.report.plan_card\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "t0 = time.perf_counter()\n"
        f"r = CliRunner().invoke(main, ['plan', '-c', {str(plan)!r}])\n"
        "dt = time.perf_counter() - t0\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before\n"
        "print(r.exit_code, f'{dt:.3f}', f'{rss:.0f}')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    exit_code, seconds, rss_mb = out.stdout.split()
    assert int(exit_code) == 2, out.stderr
    assert float(seconds) < 1.0
    assert float(rss_mb) < 200


def test_duplicate_key_never_silently_loosens_a_gate(plan_dir: Path) -> None:
    from evalaction.config import load_plan
    from evalaction.errors import InvalidPlan

    plan = write_plan(plan_dir, VALID_PLAN + "    accuracy: '>= 0.0'\n")
    with pytest.raises(InvalidPlan, match="twice"):
        load_plan(plan)


def test_line_index_never_walks_shared_nodes() -> None:
    """`_line_index` visits each node once (the loader refuses aliases; this guards the walk itself)."""
    import yaml

    from evalaction.config import _line_index

    node = yaml.compose("a: &x [1, 2]\nb: *x\n")
    lines = _line_index(node)
    assert lines[("a",)] == 1 and lines[("b",)] == 2
    assert (("a", "0") in lines) != (("b", "0") in lines)  # the shared list is walked under one key only


Builder = Callable[[Path], None]
