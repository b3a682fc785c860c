"""History pieces on their own: version discovery in a real git repo, the cache, plan rules, Holm across both
families (against statsmodels), and the view's headline."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from evalaction.artifacts import HistoryResult, MetricComparison, PriorVersion
from evalaction.exceptions import InvalidPlan
from evalaction.history import cache, git


def _git(repo: Path, *args: str, day: int = 1) -> str:
    stamp = f"2026-02-{day:02d}T08:00:00+00:00"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


def _commit(repo: Path, rel: str, content: bytes, msg: str, day: int) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_bytes(content)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", msg, day=day)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    _git(r, "init", "-q", "-b", "main")
    _commit(r, "m/old.onnx", b"one", "v1", 1)
    _git(r, "tag", "v1.0")
    _commit(r, "README", b"unrelated", "docs", 2)
    _commit(r, "m/old.onnx", b"two", "v2", 3)
    _git(r, "mv", "m/old.onnx", "m/model.onnx")
    _git(r, "commit", "-q", "-m", "rename", day=4)  # same bytes as v2: not a new version
    _git(r, "tag", "v2.0")
    _commit(r, "m/model.onnx", b"one", "revert to v1", 5)  # same bytes as v1, newer: v1's older commit drops
    _commit(r, "m/model.onnx", b"three", "v3", 6)
    _git(r, "tag", "v3.0")
    _git(r, "tag", "other-tag")
    return r


def test_commits_follow_renames_and_skip_repeated_bytes(repo: Path) -> None:
    head, found = git.discover(repo, path="m/model.onnx", ref="HEAD", source="commits", tag_pattern="v*", limit=5)
    assert head == _git(repo, "rev-parse", "HEAD").strip()
    assert [v.subject for v in found] == ["v3", "revert to v1", "rename"]
    assert [v.path for v in found] == ["m/model.onnx", "m/model.onnx", "m/model.onnx"]
    assert [v.date[:10] for v in found] == ["2026-02-06", "2026-02-05", "2026-02-04"]
    assert [git.read_raw(repo, v) for v in found] == [b"three", b"one", b"two"]
    _, two = git.discover(repo, path="m/model.onnx", ref="HEAD~1", source="commits", tag_pattern="v*", limit=2)
    assert [v.subject for v in two] == ["revert to v1", "rename"]


def test_tags_matching_the_pattern_reachable_from_the_ref(repo: Path) -> None:
    _, found = git.discover(repo, path="m/model.onnx", ref="HEAD", source="tags", tag_pattern="v*", limit=5)
    # v1.0 has no m/model.onnx (the file was m/old.onnx then): left out, not an error
    assert [v.label for v in found] == ["v3.0", "v2.0"]
    assert [git.read_raw(repo, v) for v in found] == [b"three", b"two"]


def test_a_ref_or_pattern_that_looks_like_an_option_is_refused(repo: Path) -> None:
    from evalaction.exceptions import BadInput

    with pytest.raises(BadInput, match="history.ref"):
        git.discover(repo, path="m/model.onnx", ref="--output=x", source="commits", tag_pattern="v*", limit=1)
    with pytest.raises(BadInput, match="history.tag_pattern"):
        git.discover(repo, path="m/model.onnx", ref="HEAD", source="tags", tag_pattern="-x", limit=1)


def test_an_lfs_pointer_names_the_sha256_of_its_weights() -> None:
    weights = b"\x08\x01" * 100
    oid = hashlib.sha256(weights).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(weights)}\n".encode()
    assert git.lfs_oid(pointer) == oid
    assert git.lfs_oid(weights) is None
    v = git.GitVersion("abc1234", "0" * 40, "", "", "m.onnx")
    from evalaction.exceptions import LfsPointerInsteadOfWeights

    with pytest.raises(LfsPointerInsteadOfWeights, match="git-lfs is not installed"):
        git.weights(Path("."), v, pointer, git_lfs=None)
    assert git.weights(Path("."), v, weights, git_lfs=None) == weights


def test_cache_round_trip_and_keys(tmp_path: Path) -> None:
    folder = cache.folder_for(tmp_path, "a" * 64, "fp", "sh")
    (folder / cache.PREDICTIONS).write_bytes(b"parquet")
    cache.store(folder, "a" * 64, "fp", "sh", {"accuracy": 0.9, "log_loss": None})
    hit = cache.lookup(tmp_path, "a" * 64, "fp", "sh")
    assert hit is not None and hit.overall == {"accuracy": 0.9, "log_loss": None}
    # another test set or another plan is another key
    assert cache.lookup(tmp_path, "a" * 64, "other", "sh") is None
    assert cache.lookup(tmp_path, "a" * 64, "fp", "other") is None
    # a damaged entry is a miss, not an error
    (folder / cache.ENTRY).write_text("{not json")
    assert cache.lookup(tmp_path, "a" * 64, "fp", "sh") is None


def test_scoring_hash_follows_the_model_spec_not_the_gates() -> None:
    from evalaction.plan import parse_plan

    text = (
        "version: 1\ntask: binary\ndataset: {path: d.csv, label_column: y}\n"
        "models: {candidate: {path: m.onnx, outputs: logits}}\nmetrics: {primary: accuracy}\n"
    )
    base = parse_plan(text, Path("e.yml"))
    gated = parse_plan(text + "gates: {thresholds: {accuracy: '>= 0.5'}}\n", Path("e.yml"))
    other = parse_plan(text.replace("outputs: logits", "outputs: probabilities"), Path("e.yml"))
    h = cache.scoring_hash(base, ["0", "1"])
    assert h == cache.scoring_hash(gated, ["0", "1"])
    assert h != cache.scoring_hash(other, ["0", "1"])
    assert h != cache.scoring_hash(base, ["1", "0"])


_PLAN = (
    "version: 1\ntask: {task}\ndataset: {{path: d.csv, label_column: y}}\n"
    "models: {{candidate: {{path: m.onnx}}}}\nmetrics: {{primary: {primary}}}\n{extra}"
)


def test_vs_best_prior_needs_history_and_known_metrics() -> None:
    from evalaction.plan import parse_plan

    with pytest.raises(InvalidPlan, match="gates.vs_best_prior.*history"):
        parse_plan(
            _PLAN.format(
                task="binary", primary="accuracy", extra="gates: {vs_best_prior: {accuracy: not_worse}}\n"
            ),
            Path("e.yml"),
        )
    with pytest.raises(InvalidPlan, match="accuracyy"):
        parse_plan(
            _PLAN.format(
                task="binary",
                primary="accuracy",
                extra="history: {}\ngates: {vs_best_prior: {accuracyy: better}}\n",
            ),
            Path("e.yml"),
        )
    plan = parse_plan(
        _PLAN.format(
            task="binary",
            primary="accuracy",
            extra="history: {versions: 3, source: tags}\ngates: {vs_best_prior: {macro_f1: not_worse}}\n",
        ),
        Path("e.yml"),
    )
    assert plan.history is not None and plan.history.versions == 3 and plan.history.source == "tags"
    assert plan.gates.vs_best_prior["macro_f1"].rule == "not_worse"
    assert "macro_f1" in plan.metric_list


def _cmp(metric: str, p: float, rule: str = "better", lo: float = 0.01, hi: float = 0.05) -> MetricComparison:
    return MetricComparison(
        metric=metric,
        baseline=0.8,
        candidate=0.83,
        delta=0.03,
        ci_low=lo,
        ci_high=hi,
        confidence=0.95,
        tost_ci_low=lo + 0.002,
        tost_ci_high=hi - 0.002,
        tost_confidence=0.9,
        p_value=p,
        p_adjusted=p,
        test="t",
        outcome="better",
        gated=True,
        rule=rule,  # type: ignore[arg-type]
        margin=0.0,
        passed=True,
    )


def test_holm_covers_both_families_like_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    from evalaction.artifacts import CompareResult
    from evalaction.history.stage import holm_together

    base_p, prior_p = [0.01, 0.04], [0.03]
    compare = CompareResult(
        comparisons=[_cmp("accuracy", base_p[0]), _cmp("macro_f1", base_p[1])],
        n_bootstrap=100,
        alpha=0.05,
        seed=0,
        n_samples=10,
        holm_family=["accuracy", "macro_f1"],
    )
    history = HistoryResult(
        ref="HEAD",
        source="commits",
        path="m.onnx",
        primary="accuracy",
        candidate_primary=0.83,
        versions=[PriorVersion(label="a", commit="a" * 40, date="", path="m.onnx", primary=0.8)],
        best="a",
        best_prior=[_cmp("accuracy", prior_p[0])],
        cache_dir="c",
    )
    new_compare, new_history = holm_together(compare, history, 0.05)
    expected = multipletests(base_p + prior_p, method="holm")[1]
    assert new_compare is not None and new_history is not None
    got = [c.p_adjusted for c in new_compare.comparisons] + [c.p_adjusted for c in new_history.best_prior]
    assert got == pytest.approx(list(expected))
    assert new_compare.holm_family == ["accuracy", "macro_f1", "vs_best_prior:accuracy"]
    # `better` reads the adjusted p: 0.04 alone passes at 0.05; in a family of three (Holm 0.06) it does not
    assert compare.comparisons[1].passed is True
    assert new_compare.comparisons[1].passed is False
    assert new_history.best_prior[0].passed is False  # Holm gives 0.06 too


def test_headline_says_how_far_behind_the_best() -> None:
    from evalaction.history.view import history_view

    versions = [
        PriorVersion(label="aaa", commit="a" * 40, date="2026-01-01T00:00:00Z", path="m", primary=0.95),
        PriorVersion(label="bbb", commit="b" * 40, date="2026-01-02T00:00:00Z", path="m", primary=0.93),
    ]
    h = HistoryResult(
        ref="main",
        source="commits",
        path="m",
        primary="accuracy",
        candidate_primary=0.92,
        versions=versions,
        best="aaa",
        candidate_is_best=False,
        trails_best_by=0.03,
        cache_dir="c",
        cache_hits=1,
        cache_misses=1,
    )
    view = history_view(h)
    assert view is not None
    assert view["headline"] == "the candidate trails the best prior version `aaa` by 3.0 pt on accuracy"
    assert view["chart"]["x"] == '["aaa", "bbb", "candidate"]'
    assert view["chart"]["line"] == "[0.95, 0.93, 0.92]"
    best = history_view(h.model_copy(update={"candidate_primary": 0.97, "candidate_is_best": True}))
    assert best is not None and best["headline"].startswith(
        "the candidate is the best so far on accuracy (+2.0 pt"
    )


def test_wandb_gets_the_history_table() -> None:
    """`log_history` against stand-ins for wandb.Table / wandb.plot.line and a run (no wandb import)."""
    from types import SimpleNamespace

    from evalaction.integrations.wandb_log import log_history

    class Table:
        def __init__(self, columns: list[str], data: list[list[object]]) -> None:
            self.columns, self.data = columns, data

    logged: dict[str, object] = {}
    fake_wandb = SimpleNamespace(Table=Table, plot=SimpleNamespace(line=lambda t, x, y, title: ("line", x, y)))
    wb_run = SimpleNamespace(log=logged.update, summary={})
    h = HistoryResult(
        ref="main",
        source="commits",
        path="m",
        primary="accuracy",
        candidate_primary=0.92,
        versions=[
            PriorVersion(label="aaa", commit="a" * 40, date="2026-01-01", path="m", primary=0.95, cached=True)
        ],
        best="aaa",
        candidate_is_best=False,
        trails_best_by=0.03,
        cache_dir="c",
        cache_hits=1,
    )
    run = SimpleNamespace(
        history=h, inference=SimpleNamespace(candidate=SimpleNamespace(sha256="f" * 64)), started_at="now"
    )
    log_history(fake_wandb, wb_run, run)  # type: ignore[arg-type]
    table = logged["history"]
    assert isinstance(table, Table)
    rows = [dict(zip(table.columns, r, strict=True)) for r in table.data]
    assert [(r["version"], r["accuracy"], r["best"], r["cached"]) for r in rows] == [
        ("aaa", 0.95, True, True),
        ("candidate", 0.92, False, False),
    ]
    assert rows[0]["commit"] == "a" * 40
    assert logged["history_trend"] == ("line", "order", "accuracy")
    assert [r["order"] for r in rows] == [0, 1]
    assert wb_run.summary["history/trails_best_by"] == 0.03 and wb_run.summary["history/best"] == "aaa"


def test_cache_dir_stays_inside_the_repository_or_the_output(tmp_path: Path) -> None:
    from evalaction.exceptions import BadInput
    from evalaction.history.stage import _cache_dir

    repo, out = tmp_path / "repo", tmp_path / "out"
    repo.mkdir()
    assert _cache_dir(None, repo, out, repo) == (out / "history_cache").resolve()
    assert _cache_dir(".cache/h", repo, out, repo) == (repo / ".cache/h").resolve()
    with pytest.raises(BadInput, match=r"history\.cache_dir.*inside the repository"):
        _cache_dir("../../elsewhere", repo, out, repo)
    with pytest.raises(BadInput, match=r"history\.cache_dir"):
        _cache_dir("/etc/evalaction", repo, out, repo)


def test_best_prior_gates_are_skipped_without_a_scored_version() -> None:
    from types import SimpleNamespace

    from evalaction.history.stage import best_prior_gates
    from evalaction.plan import parse_plan

    plan = parse_plan(
        _PLAN.format(
            task="binary",
            primary="accuracy",
            extra="history: {}\ngates: {vs_best_prior: {accuracy: {rule: not_worse, margin: 0.01}}}\n",
        ),
        Path("e.yml"),
    )
    from evalaction.artifacts import PlanResult

    result = PlanResult.model_construct(plan=plan, dataset=SimpleNamespace(n_samples=10))
    empty = HistoryResult(
        ref="HEAD", source="commits", path="m", primary="accuracy", candidate_primary=0.9, cache_dir="c"
    )
    for history in (None, empty):
        (gate,) = best_prior_gates(result, history)  # type: ignore[arg-type]
        assert (gate.kind, gate.status, gate.rule) == (
            "vs_best_prior",
            "skipped",
            "not worse vs best prior, margin 0.01",
        )


def test_trend_plot_marks_the_candidate_red_when_behind_green_when_best(tmp_path: Path) -> None:
    import matplotlib.image as mpimg
    import numpy as np

    from evalaction.history.plot import draw_trend

    versions = [
        PriorVersion(label=f"v{i}", commit="a" * 40, date="", path="m", primary=p, primary_ci=(p - 0.01, p + 0.01))
        for i, p in enumerate((0.95, 0.94, 0.93))
    ]
    behind = HistoryResult(
        ref="HEAD",
        source="commits",
        path="m",
        primary="accuracy",
        candidate_primary=0.92,
        versions=versions,
        best="v0",
        candidate_is_best=False,
        cache_dir="c",
    )

    def pixels(h: HistoryResult, name: str) -> np.ndarray:
        img = mpimg.imread(draw_trend(h, tmp_path / name))[..., :3]
        return (img * 255).round().astype(int)

    def has(img: np.ndarray, rgb: tuple[int, int, int]) -> bool:
        return bool((np.abs(img - np.array(rgb)).sum(axis=-1) <= 6).any())

    red, green = (0xD6, 0x27, 0x28), (0x2C, 0xA0, 0x2C)
    img = pixels(behind, "behind.png")
    assert has(img, red) and not has(img, green)
    best = behind.model_copy(update={"candidate_primary": 0.97, "candidate_is_best": True})
    img = pixels(best, "best.png")
    assert has(img, green) and not has(img, red)


def test_mermaid_numbers_have_no_exponent() -> None:
    from evalaction.history.view import _plain

    assert [_plain(x) for x in (1e-06, 0.975, 2.0, -0.0, 123456.5, None)] == [
        "0.000001",
        "0.975",
        "2",
        "0",
        "123456.5",
        "0",
    ]


def test_wandb_group_links_the_versions_of_one_model_file() -> None:
    from types import SimpleNamespace

    from evalaction.integrations.wandb_log import history_group

    h = HistoryResult(
        ref="HEAD",
        source="commits",
        path="models/m.onnx",
        primary="accuracy",
        candidate_primary=0.9,
        cache_dir="c",
    )
    assert history_group(SimpleNamespace(history=h)) == "model:models/m.onnx"  # type: ignore[arg-type]
    assert history_group(SimpleNamespace(history=None)) is None  # type: ignore[arg-type]


def test_a_cached_lfs_version_is_not_downloaded(tmp_path: Path) -> None:
    """A version stored in Git LFS is recognised in the cache by its pointer's oid: git-lfs is never needed."""
    from types import SimpleNamespace

    import numpy as np

    from evalaction.artifacts import PlanResult
    from evalaction.history.stage import _Scorer
    from evalaction.plan import parse_plan
    from evalaction.predictions import write_predictions

    plan = parse_plan(_PLAN.format(task="binary", primary="accuracy", extra="history: {}\n"), Path("e.yml"))
    result = PlanResult.model_construct(
        plan=plan, dataset=SimpleNamespace(fingerprint="fp"), base_dir=str(tmp_path)
    )
    dataset = SimpleNamespace(classes=["0", "1"])
    weights = b"onnx weights"
    oid = hashlib.sha256(weights).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(weights)}\n".encode()
    assert git.lfs_oid(pointer) == oid
    scoring = cache.scoring_hash(plan, dataset.classes)
    folder = cache.folder_for(tmp_path / "cache", oid, "fp", scoring)
    write_predictions(
        folder / cache.PREDICTIONS,
        ids=np.array(["a", "b"]),
        y=np.array([0, 1]),
        scores=np.array([[0.9, 0.1], [0.2, 0.8]]),
        classes=["0", "1"],
        slices={},
        batch_index=np.zeros(2, dtype=int),
        batch_latency_ms=np.zeros(1),
        task="binary",
    )
    cache.store(folder, oid, "fp", scoring, {"accuracy": 1.0})
    scorer = _Scorer(
        plan=result,
        dataset=dataset,  # type: ignore[arg-type]
        repo=tmp_path,
        cache_dir=tmp_path / "cache",
        untrusted=False,
        code_root=tmp_path,
        git_lfs=None,  # a download would raise LfsPointerInsteadOfWeights
        scratch=tmp_path / "scratch",
    )
    version = git.GitVersion("abc1234", "0" * 40, "", "", "m.onnx")
    preds, overall, cached = scorer.score(version, pointer, oid)
    assert cached and overall == {"accuracy": 1.0} and list(preds.pred) == [0, 1]
    assert (scorer.hits, scorer.misses) == (1, 0)
