"""A catalogue of hostile and careless inputs: each one exits 2 (130/143 for signals) with exactly one stderr line
naming the file or field, never a traceback, never a file's contents.

Most cases run `evalaction plan` in-process (click's CliRunner) on a plan folder built in tmp_path; only the
memory bomb and the signals need a subprocess.
"""

from __future__ import annotations

import contextlib
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
    ("bidi override", VALID_PLAN + "name: 'a\u202eb'\n", ("line 19", "U+202E", "bidirectional")),
    ("bidi isolate in a comment", VALID_PLAN + "# \u2066hidden\u2069\n", ("line 19", "U+2066")),
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
        "import evalaction.plan, evalaction.datasets, evalaction.stages.plan, evalaction.report.plan_card\n"
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
    from evalaction.exceptions import InvalidPlan
    from evalaction.plan import load_plan

    plan = write_plan(plan_dir, VALID_PLAN + "    accuracy: '>= 0.0'\n")
    with pytest.raises(InvalidPlan, match="twice"):
        load_plan(plan)


def test_line_index_never_walks_shared_nodes() -> None:
    """`_line_index` visits each node once (the loader refuses aliases; this guards the walk itself)."""
    import yaml

    from evalaction.plan.load import _line_index

    node = yaml.compose("a: &x [1, 2]\nb: *x\n")
    lines = _line_index(node)
    assert lines[("a",)] == 1 and lines[("b",)] == 2
    assert (("a", "0") in lines) != (("b", "0") in lines)  # the shared list is walked under one key only


Builder = Callable[[Path], None]


# ---------------------------------------------------------------------------------------------------------------
# Paths: every path of the plan stays inside the repository and names a regular file or folder


def _outside_secret(folder: Path) -> Path:
    """A one-line file outside the repository holding a token (what issue 14 saw quoted)."""
    outside = folder.parent / f"{folder.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.csv").write_text(f"GITHUB_TOKEN={SECRET}\n")
    return outside


def _plan_with(old: str, new: str) -> Builder:
    def build(folder: Path) -> None:
        write_plan(folder, _edit(VALID_PLAN, old, new))

    return build


def _symlink(name: str, target: Callable[[Path], Path], old: str, new: str) -> Builder:
    def build(folder: Path) -> None:
        link = folder / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target(folder))
        write_plan(folder, _edit(VALID_PLAN, old, new))

    return build


def _fifo(name: str, old: str, new: str) -> Builder:
    def build(folder: Path) -> None:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(folder / name)
        write_plan(folder, _edit(VALID_PLAN, old, new))

    return build


DATA = "  path: data/test.csv\n"
CAND = "    path: models/candidate.onnx\n"
BASE = "    path: models/baseline.onnx\n"
LABEL = "  label_column: label\n"

PATH_CASES: list[tuple[str, Builder, tuple[str, ...]]] = [
    ("dataset /etc/passwd", _plan_with(DATA, "  path: /etc/passwd\n"), ("line 4", "`dataset.path`", "absolute")),
    (
        "dataset ../../etc/passwd",
        _plan_with(DATA, "  path: ../../../../../../etc/passwd\n"),
        ("line 4", "through `..`"),
    ),
    ("dataset home", _plan_with(DATA, "  path: ~/.ssh/id_rsa\n"), ("line 4", "absolute")),
    ("dataset /dev/zero", _plan_with(DATA, "  path: /dev/zero\n"), ("`dataset.path`", "absolute")),
    ("dataset /proc", _plan_with(DATA, "  path: /proc/self/environ\n"), ("`dataset.path`", "absolute")),
    (
        "dataset outside secret",
        lambda f: (
            _outside_secret(f),
            write_plan(f, _edit(VALID_PLAN, DATA, f"  path: ../{f.name}-outside/secret.csv\n")),
        ),
        ("`dataset.path`", "through `..`"),
    ),
    (
        "dataset symlink to a secret",
        _symlink("data/link.csv", lambda f: _outside_secret(f) / "secret.csv", DATA, "  path: data/link.csv\n"),
        ("`dataset.path`", "through a symlink"),
    ),
    (
        "dataset symlink to /etc",
        _symlink("data/etc", lambda f: Path("/etc"), DATA, "  path: data/etc\n"),
        ("through a symlink",),
    ),
    (
        "dataset symlink to /dev/null",
        _symlink("data/null.csv", lambda f: Path("/dev/null"), DATA, "  path: data/null.csv\n"),
        ("through a symlink",),
    ),
    (
        "dataset FIFO",
        _fifo("data/pipe.csv", DATA, "  path: data/pipe.csv\n"),
        ("line 4", "`dataset.path`", "special file"),
    ),
    (
        "dataset FIFO folder format",
        _fifo("data/pipe", DATA, "  path: data/pipe\n  format: npz\n"),
        ("special file",),
    ),
    ("dataset missing", _plan_with(DATA, "  path: data/nothing.csv\n"), ("line 4", "expected an existing file")),
    ("dataset empty path", _plan_with(DATA, "  path: ''\n"), ("line 4", "expected a relative path")),
    ("dataset blank path", _plan_with(DATA, "  path: '   '\n"), ("line 4", "expected a relative path")),
    (
        "dataset NUL in path",
        _plan_with(DATA, '  path: "data/test.csv\\0"\n'),
        ("line 4", "expected a relative path"),
    ),
    (
        "train_path absolute",
        _plan_with(LABEL, LABEL + "  train_path: /etc/passwd\n"),
        ("line 6", "`dataset.train_path`", "absolute"),
    ),
    (
        "train_path escape",
        _plan_with(LABEL, LABEL + "  train_path: ../x.csv\n"),
        ("line 6", "`dataset.train_path`", "`..`"),
    ),
    (
        "train_path FIFO",
        _fifo("data/train.csv", LABEL, LABEL + "  train_path: data/train.csv\n"),
        ("`dataset.train_path`", "special file"),
    ),
    (
        "train_path missing",
        _plan_with(LABEL, LABEL + "  train_path: data/train.csv\n"),
        ("line 6", "expected an existing file"),
    ),
    (
        "manifest absolute",
        _plan_with(LABEL, LABEL + "  train_manifest: /etc/shadow\n"),
        ("`dataset.train_manifest`", "absolute"),
    ),
    (
        "manifest escape",
        _plan_with(LABEL, LABEL + "  train_manifest: ../../m.txt\n"),
        ("`dataset.train_manifest`", "`..`"),
    ),
    (
        "manifest FIFO",
        _fifo("m.txt", LABEL, LABEL + "  train_manifest: m.txt\n"),
        ("`dataset.train_manifest`", "special file"),
    ),
    (
        "images_dir absolute",
        _plan_with(LABEL, LABEL + "  images_dir: /var\n"),
        ("`dataset.images_dir`", "absolute"),
    ),
    ("images_dir escape", _plan_with(LABEL, LABEL + "  images_dir: ../..\n"), ("`dataset.images_dir`", "`..`")),
    (
        "candidate absolute",
        _plan_with(CAND, "    path: /etc/hostname\n"),
        ("line 9", "`models.candidate.path`", "absolute"),
    ),
    (
        "candidate escape",
        _plan_with(CAND, "    path: ../../model.onnx\n"),
        ("line 9", "`models.candidate.path`", "`..`"),
    ),
    (
        "candidate symlink out",
        _symlink(
            "models/link.onnx", lambda f: _outside_secret(f) / "secret.csv", CAND, "    path: models/link.onnx\n"
        ),
        ("`models.candidate.path`", "symlink"),
    ),
    (
        "candidate FIFO",
        _fifo("models/pipe.onnx", CAND, "    path: models/pipe.onnx\n"),
        ("`models.candidate.path`", "special file"),
    ),
    (
        "candidate a folder",
        _plan_with(CAND, "    path: models\n"),
        ("line 9", "`models.candidate.path`", "expected a model file"),
    ),
    ("candidate missing", _plan_with(CAND, "    path: models/none.onnx\n"), ("line 9", "expected a model file")),
    (
        "baseline absolute",
        _plan_with(BASE, "    path: /bin/sh\n"),
        ("line 12", "`models.baseline.path`", "absolute"),
    ),
    (
        "baseline escape",
        _plan_with(BASE, "    path: ../../../bin/sh\n"),
        ("line 12", "`models.baseline.path`", "`..`"),
    ),
    (
        "baseline FIFO",
        _fifo("models/b.onnx", BASE, "    path: models/b.onnx\n"),
        ("`models.baseline.path`", "special file"),
    ),
]


@pytest.mark.parametrize(("build", "needles"), [c[1:] for c in PATH_CASES], ids=[c[0] for c in PATH_CASES])
def test_bad_plan_paths(tmp_path: Path, build: Builder, needles: tuple[str, ...]) -> None:
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "models").mkdir()
    (repo / "data" / "test.csv").write_text("id,label,f1\na,0,1.0\nb,1,2.0\n")
    (repo / "models" / "candidate.onnx").write_bytes(b"x")
    (repo / "models" / "baseline.onnx").write_bytes(b"x")
    build(repo)
    assert_bad_input(invoke("plan", "-c", str(repo / "evalaction.yml")), "evalaction.yml", *needles)


def test_dotdot_inside_the_repository_is_allowed(tmp_path: Path) -> None:
    """The root is the folder holding `.git`: a plan in `ci/` may name `../data/test.csv`."""
    from evalaction.plan import load_plan

    (tmp_path / ".git").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "data" / "test.csv").write_text("id,label,f1\na,0,1.0\n")
    for m in ("candidate", "baseline"):
        (tmp_path / "models" / f"{m}.onnx").write_bytes(b"x")
    (tmp_path / "ci").mkdir()
    text = VALID_PLAN.replace("data/", "../data/").replace("models/", "../models/")
    loaded = load_plan(write_plan(tmp_path / "ci", text))
    assert loaded.resolve(loaded.plan.dataset.path or "") == (tmp_path / "data" / "test.csv").resolve()


# ---------------------------------------------------------------------------------------------------------------
# `module:`: only Python code of the repository

MODULE_CASES = [
    ("os:system", "os:system", ("`models.candidate.module`", "not the repository's code")),
    ("subprocess", "subprocess:Popen", ("not the repository's code",)),
    ("builtins eval", "builtins:eval", ("not the repository's code",)),
    ("importlib", "importlib:import_module", ("not the repository's code",)),
    ("shutil", "shutil:rmtree", ("not the repository's code",)),
    ("evalaction itself", "evalaction.cli:main", ("not the repository's code",)),
    ("torch itself", "torch.nn:Linear", ("not the repository's code",)),
    ("installed package", "numpy:ndarray", ("no such file",)),
    ("missing module", "nets.missing:Net", ("no such file",)),
    ("absolute file", "/etc/evil.py:Net", ("`package.module:Class`",)),
    ("escaping file", "../evil.py:Net", ("expected a file inside the repository",)),
    ("missing file", "nets/none.py:Net", ("no such file",)),
    ("call syntax", "os:system('id')", ("`package.module:Class`",)),
    ("no class", "nets.digits", ("`package.module:Class`",)),
]


@pytest.mark.parametrize(("ref", "needles"), [c[1:] for c in MODULE_CASES], ids=[c[0] for c in MODULE_CASES])
def test_bad_module(plan_dir: Path, ref: str, needles: tuple[str, ...]) -> None:
    text = _edit(VALID_PLAN, "    outputs: logits\n", f"    outputs: logits\n    module: {ref!r}\n")
    assert_bad_input(invoke("plan", "-c", str(write_plan(plan_dir, text))), "evalaction.yml", *needles)


def test_module_file_form_and_package_form_are_allowed(plan_dir: Path) -> None:
    from evalaction.plan import load_plan
    from evalaction.runners.torch import import_module_class

    (plan_dir / "nets").mkdir()
    (plan_dir / "nets" / "__init__.py").write_text("")
    (plan_dir / "nets" / "tiny.py").write_text("class Net:\n    pass\n\ndef system(cmd):\n    raise SystemExit\n")
    for ref in ("nets.tiny:Net", "nets/tiny.py:Net"):
        text = _edit(VALID_PLAN, "    outputs: logits\n", f"    outputs: logits\n    module: {ref}\n")
        assert load_plan(write_plan(plan_dir, text)).plan.models.candidate.module == ref
        assert import_module_class(ref, plan_dir, "candidate").__name__ == "Net"


@pytest.mark.parametrize("ref", ["os:system", "json:loads", "nets/tiny.py:system", "../x.py:Net"])
def test_runner_refuses_modules_outside_the_repository(plan_dir: Path, ref: str) -> None:
    """Defence in depth: the runner checks again (a caller that skips load_plan still cannot import os)."""
    from evalaction.exceptions import CannotLoadModel
    from evalaction.runners.torch import import_module_class

    (plan_dir / "nets").mkdir()
    (plan_dir / "nets" / "tiny.py").write_text("def system(cmd):\n    raise SystemExit\n")
    with pytest.raises(CannotLoadModel, match="candidate"):
        import_module_class(ref, plan_dir, "candidate")


# ---------------------------------------------------------------------------------------------------------------
# Test-set files: unreadable, inconsistent or hostile contents; values the model must not be blamed for


def _npz(**arrays: object) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import numpy as np

        with path.open("wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    return build


def _npy(array: object) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import numpy as np

        with path.open("wb") as f:
            np.save(f, array, allow_pickle=True)

    return build


def _png_folder(kind: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        from PIL import Image

        for cls in ("0", "1"):
            (path / cls).mkdir(parents=True)
        if kind == "corrupt":
            Image.new("RGB", (4, 4)).save(path / "0" / "a.png")
            (path / "1" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
        elif kind == "text":
            (path / "0" / "a.png").write_text(f"GITHUB_TOKEN={SECRET}\n")
        elif kind == "symlink":
            Image.new("RGB", (4, 4)).save(path / "0" / "a.png")
            outside = path.parent.parent.parent / "outside.png"
            Image.new("RGB", (4, 4)).save(outside)
            (path / "1" / "b.png").symlink_to(outside)
        elif kind == "class symlink":
            Image.new("RGB", (4, 4)).save(path / "0" / "a.png")
            (path / "1").rmdir()
            (path / "1").symlink_to(path.parent.parent.parent)
            Image.new("RGB", (4, 4)).save(path.parent.parent.parent / "c.png")
        elif kind == "sizes":
            Image.new("RGB", (4, 4)).save(path / "0" / "a.png")
            Image.new("RGB", (5, 4)).save(path / "1" / "b.png")

    return build


def _obj_array() -> object:
    import numpy as np

    return np.array([{"a": 1}, None], dtype=object)


CSV_HEAD = "id,label,f1\n"
WIDE = ",".join(f"column_with_a_rather_long_name_number_{i:03d}_and_more" for i in range(30))

DATA_CASES: list[tuple[str, str, str | bytes | Callable[[Path], None], str, tuple[str, ...]]] = [
    # (id, file name, contents, extra plan text for `dataset:`, needles)
    ("NaN feature", "t.csv", CSV_HEAD + "a,0,1.0\nb,1,NaN\n", "", ("t.csv", "row id 'b'", "column 'f1'", "NaN")),
    (
        "inf feature",
        "t.csv",
        CSV_HEAD + "a,0,inf\nb,1,2\n",
        "",
        ("row id 'a'", "infinite", "invalid_values: drop"),
    ),
    ("-inf feature", "t.csv", CSV_HEAD + "a,0,1\nb,1,-inf\n", "", ("row id 'b'", "infinite")),
    ("float32 overflow", "t.csv", CSV_HEAD + "a,0,1e308\nb,1,2\n", "", ("row id 'a'", "beyond float32's range")),
    ("empty feature cell", "t.csv", CSV_HEAD + "a,0,\nb,1,2\n", "", ("row id 'a'", "column 'f1'")),
    ("secret in a cell", "t.csv", CSV_HEAD + f"a,0,{SECRET}\n", "", ("t.csv", "'f1' is not numeric")),
    ("secret in a long row", "t.csv", CSV_HEAD + f"a,0,1,{SECRET}\n", "", ("t.csv", "got 4")),
    (
        "secret as the only line",
        "t.csv",
        f"GITHUB_TOKEN={SECRET}\n",
        "",
        ("t.csv", "`dataset.label_column`", "..."),
    ),
    (
        "label column missing",
        "t.csv",
        "id,target,f1\na,0,1\n",
        "",
        ("`dataset.label_column` 'label'", "id, target, f1"),
    ),
    ("id column missing", "t.csv", "key,label,f1\na,0,1\n", "", ("`dataset.id_column` 'id'",)),
    ("wide table names cut", "t.csv", "id,label," + WIDE + "\n", "  slice_columns: [ink]\n", ("ink", ", ...]")),
    (
        "feature pattern matches nothing",
        "t.csv",
        CSV_HEAD + "a,0,1\n",
        "  feature_columns: [pixel_*]\n",
        ("'pixel_*'", "add the column"),
    ),
    ("non-numeric feature", "t.csv", "id,label,f1,colour\na,0,1,red\n", "", ("'colour' is not numeric",)),
    ("empty file", "t.csv", "", "", ("t.csv", "cannot read as csv")),
    ("header only", "t.csv", CSV_HEAD, "", ("t.csv", "at least one sample")),
    ("binary garbage", "t.csv", bytes(range(256)) * 4, "", ("t.csv",)),
    ("non-UTF-8 label", "t.csv", CSV_HEAD.encode() + b"a,\xff\xfe,1\n", "", ("t.csv", "UTF8")),
    (
        "slice column missing",
        "t.csv",
        CSV_HEAD + "a,0,1\n",
        "  slice_columns: [ink]\n",
        ("`dataset.slice_columns` names 'ink'",),
    ),
    ("parquet garbage", "t.parquet", b"PAR1" + b"\x00" * 64, "", ("t.parquet", "cannot read as parquet")),
    ("parquet empty", "t.parquet", b"", "", ("t.parquet", "cannot read as parquet")),
    ("csv that is a folder", "t.csv", lambda p: p.mkdir(), "", ("found a folder",)),
    (
        "npz object array",
        "t.npz",
        _npz(x=_obj_array(), label=[0, 1]),
        "",
        ("t.npz", "array 'x' holds Python objects"),
    ),
    (
        "npz object labels",
        "t.npz",
        _npz(x=[[1.0], [2.0]], label=_obj_array()),
        "",
        ("array 'label' holds Python objects",),
    ),
    ("npz missing features", "t.npz", _npz(features=[[1.0]], label=[0]), "", ("`dataset.features_key` 'x'",)),
    ("npz missing labels", "t.npz", _npz(x=[[1.0]], y=[0]), "", ("`dataset.label_column` 'label'",)),
    ("npz length mismatch", "t.npz", _npz(x=[[1.0], [2.0]], label=[0]), "", ("has 2 rows but 'label' has 1",)),
    ("npz garbage", "t.npz", b"PK\x03\x04" + b"\x00" * 40, "", ("t.npz", "cannot read as npz")),
    (
        "npz NaN",
        "t.npz",
        _npz(x=[[1.0], [float("nan")]], label=[0, 1]),
        "",
        ("row id '1'", "column 'feature 0'", "NaN"),
    ),
    ("npz inf", "t.npz", _npz(x=[[float("inf")], [1.0]], label=[0, 1]), "", ("row id '0'", "infinite")),
    ("npy object array", "t.npy", _npy(_obj_array()), "", ("t.npy", "cannot read as npy")),
    ("npy 1-D", "t.npy", _npy([1.0, 2.0]), "", ("t.npy", "expected a 2-D array")),
    ("npy garbage", "t.npy", b"\x93NUMPY garbage", "", ("t.npy", "cannot read as npy")),
    ("corrupt PNG", "images", _png_folder("corrupt"), "", ("b.png", "cannot read as an image")),
    ("text file as PNG", "images", _png_folder("text"), "", ("a.png", "cannot read as an image")),
    ("images of two sizes", "images", _png_folder("sizes"), "", ("b.png", "image_size")),
    ("empty image folder", "images", _png_folder("none"), "", ("found none",)),
    ("COCO garbage", "t.json", b"{not json", "", ("t.json", "cannot read as COCO JSON")),
    ("COCO non-UTF-8", "t.json", b'{"images": "\xff"}', "", ("t.json", "cannot read as COCO JSON")),
    ("COCO a list", "t.json", b"[]", "", ("t.json",)),
    ("COCO no images", "t.json", b'{"images": [], "categories": []}', "", ("t.json", "at least one image")),
    ("image symlink out", "images", _png_folder("symlink"), "", ("b.png", "symlink pointing out")),
    ("class folder symlink out", "images", _png_folder("class symlink"), "", ("c.png", "symlink pointing out")),
]


@pytest.mark.parametrize(
    ("name", "contents", "extra", "needles"), [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES]
)
def test_bad_test_set(
    plan_dir: Path, name: str, contents: str | bytes | Callable[[Path], None], extra: str, needles: tuple[str, ...]
) -> None:
    target = plan_dir / "data" / name
    if callable(contents):
        contents(target)
    elif isinstance(contents, bytes):
        target.write_bytes(contents)
    else:
        target.write_text(contents)
    text = _edit(VALID_PLAN, DATA, f"  path: data/{name}\n" + extra)
    if name.endswith((".npz", ".npy")) or name == "images":
        text = text.replace("  id_column: id\n", "")
    result = invoke("plan", "-c", str(write_plan(plan_dir, text)))
    line = assert_bad_input(result, *needles)
    assert "object at 0x" not in line and "warnings.warn" not in result.output


CLASS_REF_CASES = [
    (
        "recall of an unknown class",
        "    recall[eleven]: '>= 0.5'\n",
        ("`gates.thresholds.recall[eleven]`", "'eleven'"),
    ),
    (
        "precision of an unknown class",
        "    precision[7]: '>= 0.5'\n",
        ("`gates.thresholds.precision[7]`", "use one of [0, 1]"),
    ),
    (
        "flips of an unknown class",
        "  errors:\n    negative_flips[eleven]: 1\n",
        ("`gates.errors.negative_flips[eleven]`",),
    ),
]


@pytest.mark.parametrize(
    ("extra", "needles"), [c[1:] for c in CLASS_REF_CASES], ids=[c[0] for c in CLASS_REF_CASES]
)
def test_class_refs_checked_at_plan_time(plan_dir: Path, extra: str, needles: tuple[str, ...]) -> None:
    result = invoke("plan", "-c", str(write_plan(plan_dir, VALID_PLAN + extra)))
    assert_bad_input(result, "evalaction.yml", "expected a class of the test set", *needles)


def test_invalid_values_dropped_and_counted(plan_dir: Path) -> None:
    (plan_dir / "data" / "test.csv").write_text(CSV_HEAD + "a,0,1.0\nb,1,NaN\nc,1,inf\nd,0,2.0\n")
    text = _edit(VALID_PLAN, DATA, DATA + "  invalid_values: drop\n")
    result = invoke("plan", "-c", str(write_plan(plan_dir, text)))
    assert result.exit_code == 0, result.output
    assert "- samples: 2" in result.output
    assert "invalid feature values (NaN, infinite or beyond float32): 2, 2 rows dropped" in result.output


# ---------------------------------------------------------------------------------------------------------------
# Output folders: a file, unwritable, full disk; a failed run never leaves the previous run's verdict behind


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(("error:", "internal error:"))]


def test_out_naming_a_file_is_refused(plan_dir: Path) -> None:
    (plan_dir / "out").write_text("not a folder")
    result = invoke("run", "-c", str(plan_dir / "evalaction.yml"), "-o", str(plan_dir / "out"))
    assert_bad_input(result, "out: expected an output folder, found a file")


def test_out_inside_a_file_is_refused(plan_dir: Path) -> None:
    (plan_dir / "out").write_text("not a folder")
    result = invoke("run", "-c", str(plan_dir / "evalaction.yml"), "-o", str(plan_dir / "out" / "sub"))
    assert_bad_input(result, "cannot create the output folder")


def test_unwritable_out_is_refused(plan_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.access
    # as if `out` were read-only (the tests may run as root, where chmod does not bind)
    monkeypatch.setattr(os, "access", lambda p, mode, **k: Path(p).name != "out" and real(p, mode, **k))
    result = invoke("run", "-c", str(plan_dir / "evalaction.yml"), "-o", str(plan_dir / "out"))
    assert_bad_input(result, "out: the output folder is not writable")


@pytest.mark.parametrize(
    ("errno_name", "needle"), [("ENOSPC", "no space left on the device"), ("EROFS", "a read-only file system")]
)
def test_full_or_read_only_disk_mid_run_is_bad_input(
    plan_dir: Path, monkeypatch: pytest.MonkeyPatch, errno_name: str, needle: str
) -> None:
    import errno

    import evalaction.stages.plan as plan_stage

    def fail(**kwargs: object) -> None:
        code = getattr(errno, errno_name)
        raise OSError(code, os.strerror(code), str(plan_dir / "out" / "plan.json"))

    monkeypatch.setattr(plan_stage, "run_plan", fail)
    result = invoke("run", "-c", str(plan_dir / "evalaction.yml"), "-o", str(plan_dir / "out"))
    assert result.exit_code == 2, result.output
    assert _error_lines(result) == [
        f"error: {needle} writing {plan_dir / 'out' / 'plan.json'}; free some space or choose another `-o` folder"
    ]
    assert "Traceback" not in result.output


def test_failed_run_removes_the_previous_verdict_and_report_refuses(plan_dir: Path) -> None:
    import json

    from evalaction.pipeline import RUN_MARKER

    out = plan_dir / "out"
    (out / "plots").mkdir(parents=True)
    for name in ("verdict.json", "report.html", "results.json", "plots/roc.png"):
        (out / name).write_text("previous run")
    (out / "notes.txt").write_text("the user's own file")
    files = ["verdict.json", "report.html", "results.json", "plots/roc.png", "../outside.txt", "/etc/hostname"]
    (out / RUN_MARKER).write_text(json.dumps({"state": "complete", "files": files}))
    (plan_dir / "outside.txt").write_text("never removed")
    # the models are 1-byte files: the run fails at inference, after the plan stage wrote plan.json
    result = invoke("run", "-c", str(plan_dir / "evalaction.yml"), "-o", str(out))
    assert result.exit_code == 2 and len(_error_lines(result)) == 1, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [RUN_MARKER, "notes.txt", "plan.json"]
    assert (plan_dir / "outside.txt").exists()
    marker = json.loads((out / RUN_MARKER).read_text())
    assert marker["state"] == "incomplete" and marker["files"] == ["plan.json"]
    assert_bad_input(invoke("report", str(out)), "did not finish", "'incomplete'", "re-run `evalaction run`")


@pytest.mark.parametrize("state", ["in progress", "incomplete", None])
def test_report_refuses_an_unfinished_folder(tmp_path: Path, state: str | None) -> None:
    import json

    from evalaction.pipeline import RUN_MARKER

    (tmp_path / RUN_MARKER).write_text(json.dumps({"state": state}) if state else "{not json")
    (tmp_path / "results.json").write_text("{}")
    assert_bad_input(invoke("report", str(tmp_path)), str(tmp_path), "did not finish")


# ---------------------------------------------------------------------------------------------------------------
# Signals: 130 for SIGINT, 143 for SIGTERM, never 1; the folder is marked incomplete; never swallowed


def test_swallowed_interrupt_still_exits_130(plan_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    import evalaction.stages.plan as plan_stage

    real = plan_stage.run_plan

    def swallowing(**kwargs: object) -> object:
        with contextlib.suppress(KeyboardInterrupt):  # what a careless library does
            os.kill(os.getpid(), signal.SIGINT)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_stage, "run_plan", swallowing)
    result = invoke("plan", "-c", str(plan_dir / "evalaction.yml"))
    assert_bad_input(result, "interrupted by SIGINT", code=130)


@pytest.mark.parametrize(("signame", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_signal_mid_run_exits_128_plus_signal(plan_dir: Path, signame: str, code: int) -> None:
    import json
    import signal

    from evalaction.pipeline import RUN_MARKER

    out = plan_dir / "out"
    (out).mkdir()
    (out / "verdict.json").write_text("previous run")
    script = (
        "import sys, time\n"
        "import evalaction.stages.inference as inference\n"
        "def hang(**kwargs):\n"
        "    print('READY', file=sys.stderr, flush=True)\n"
        "    time.sleep(60)\n"
        "inference.run_inference = hang\n"
        "from evalaction.cli import main\n"
        f"main(['run', '-c', {str(plan_dir / 'evalaction.yml')!r}, '-o', {str(out)!r}])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.strip() == "READY":
                break
        proc.send_signal(getattr(signal, signame))
        rest = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, rest
    errors = [line for line in rest.splitlines() if line.startswith("error:")]
    assert errors == [f"error: interrupted by {signame}; {out}/ is marked incomplete; re-run the command"], rest
    assert "Traceback" not in rest
    assert json.loads((out / RUN_MARKER).read_text())["state"] == "incomplete"
    assert not (out / "verdict.json").exists()


# ---------------------------------------------------------------------------------------------------------------
# The action's event file

EVENT_CASES = [
    ("non-UTF-8 event", b'{"action": "opened", "x": "\xff\xfe"}', ("not UTF-8 JSON", "0xff")),
    ("binary event", bytes(range(256)), ("not UTF-8 JSON",)),
    ("not JSON", b"action: opened\n", ("is not JSON",)),
    ("JSON list", b"[1, 2]", ("holds a list",)),
    ("empty event", b"", ("is not JSON",)),
]


@pytest.mark.parametrize(("payload", "needles"), [c[1:] for c in EVENT_CASES], ids=[c[0] for c in EVENT_CASES])
def test_bad_event_file_is_one_error_annotation(tmp_path: Path, payload: bytes, needles: tuple[str, ...]) -> None:
    import io

    from evalaction.github import action

    (tmp_path / "event.json").write_bytes(payload)
    env = {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_REPOSITORY": "o/r",
    }
    out = io.StringIO()
    assert action.main(env, out=out) == 2, out.getvalue()
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "Traceback" not in out.getvalue(), out.getvalue()
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


def test_huge_image_warnings_become_one_line(plan_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PIL's DecompressionBombWarning (a 144-megapixel PNG) printed raw `warnings.warn(` lines; now one line."""
    from PIL import Image

    _png_folder("sizes")(plan_dir / "data" / "images")
    (plan_dir / "data" / "images" / "1" / "b.png").unlink()
    Image.new("RGB", (4, 4)).save(plan_dir / "data" / "images" / "1" / "b.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 16 pixels: over the limit, under twice it (a warning)
    text = _edit(VALID_PLAN, DATA, "  path: data/images\n").replace("  id_column: id\n", "")
    result = invoke("plan", "-c", str(write_plan(plan_dir, text)))
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warned) == 1 and warned[0].startswith("warning: ") and "a.png" in warned[0], result.stderr
    assert "decompression bomb" in warned[0] and "further image warnings not shown" in warned[0]


@pytest.mark.parametrize(
    ("contents", "needle"),
    [(b"abc\n\xff\xfe\n", "cannot read the training manifest"), (f"{SECRET}\n\xff".encode("latin-1"), "UTF-8")],
    ids=["non-UTF-8 manifest", "manifest with a secret"],
)
def test_bad_training_manifest(plan_dir: Path, contents: bytes, needle: str) -> None:
    (plan_dir / "data" / "m.txt").write_bytes(contents)
    text = _edit(VALID_PLAN, DATA, DATA + "  train_manifest: data/m.txt\n")
    assert_bad_input(invoke("plan", "-c", str(write_plan(plan_dir, text))), "m.txt", needle)


def test_invalid_values_kept_are_counted(plan_dir: Path) -> None:
    (plan_dir / "data" / "test.csv").write_text(CSV_HEAD + "a,0,1.0\nb,1,NaN\nc,1,1e39\n")
    text = _edit(VALID_PLAN, DATA, DATA + "  invalid_values: keep\n")
    result = invoke("plan", "-c", str(write_plan(plan_dir, text)))
    assert result.exit_code == 0, result.output
    assert "- samples: 3" in result.output
    assert "invalid feature values (NaN, infinite or beyond float32): 2\n" in result.output


def test_every_path_field_is_checked_including_ones_added_later(plan_dir: Path) -> None:
    """`_plan_paths` finds path fields by name, so a `*_path`/`*_dir` field added to the plan is confined too."""
    from evalaction.plan import load_plan
    from evalaction.plan.load import _plan_paths

    text = _edit(VALID_PLAN, LABEL, LABEL + "  train_manifest: data/test.csv\n  images_dir: data\n")
    plan = load_plan(write_plan(plan_dir, text)).plan
    assert sorted(".".join(loc) for loc, _ in _plan_paths(plan)) == [
        "dataset.images_dir",
        "dataset.path",
        "dataset.train_manifest",
        "models.baseline.path",
        "models.candidate.path",
    ]
