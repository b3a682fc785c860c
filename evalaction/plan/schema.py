"""The evaluation plan's schema (`evalaction.yml`): what to evaluate, on which data, and what decides GO / NO-GO.

`evalaction.plan.load_plan(path)` reads the YAML, validates it with pydantic, checks it against the files on disk, and raises
`InvalidPlan` with one line: the file, the line, the field, what was expected, what was found, and the fix.
Unknown keys are rejected with a did-you-mean.

The plan comes from a pull request, so it is read as hostile input (README "Safety"): the YAML loader refuses
anchors and aliases, duplicate keys, more than 1 MiB or 32 levels, non-UTF-8 and binary files; every path must
resolve inside the repository and name a regular file or folder; `module:` must be the repository's own code.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from evalaction.detection.spec import DetectionSpec, DetectorSpec
from evalaction.formats import MissingModule, ModelFormat, format_of, model_kind
from evalaction.metrics.catalog import CATALOG, metric_names

Task = Literal["binary", "multiclass", "regression", "detection"]
DatasetFormat = Literal["csv", "parquet", "npz", "npy", "image_folder", "coco"]
Device = Literal["auto", "cpu", "cuda"]

_SUFFIX_FORMATS: dict[str, DatasetFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
    ".npy": "npy",
    ".json": "coco",
}
# `module:` of a torch state_dict: a dotted module of the repository or a .py file in it, then the class
MODULE_REF = re.compile(
    r"(?:[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*|[\w.][\w./-]*\.py):[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*"
)
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoboflowSource(_Strict):
    """A Roboflow dataset version, downloaded once into the cache (the API key comes from `ROBOFLOW_API_KEY`)."""

    workspace: str = Field(description="Workspace slug (the first part of the project's URL).")
    project: str = Field(description="Project slug.")
    version: Annotated[int, Field(ge=1)] = Field(description="Dataset version number.")
    format: Literal["folder", "coco"] = Field(
        default="folder", description="Export format: `folder` (one folder per class) or `coco` (COCO JSON)."
    )
    split: str = Field(default="test", description="The export's split to evaluate on: test, valid or train.")
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] = Field(
        default=600, description="Deadline for the whole download (the roboflow client sets none)."
    )

    @field_validator("workspace", "project")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v) or ".." in v:
            raise ValueError(f"expected a URL slug like `my-project` (letters, digits, `-_.`), got {v!r}")
        return v

    @property
    def key(self) -> str:
        """workspace/project/version/format: the cache key and the name used in messages."""
        return f"{self.workspace}/{self.project}/{self.version}/{self.format}"


class DatasetSpec(_Strict):
    """The test set: where it is, how to read it, and what its columns mean."""

    path: str | None = Field(
        default=None, description="Test set file or folder, relative to the plan's folder (or give `roboflow`)."
    )
    roboflow: RoboflowSource | None = Field(
        default=None, description="A Roboflow dataset version instead of a local `path`."
    )
    format: DatasetFormat | None = Field(
        default=None,
        description="csv, parquet, npz, npy, image_folder or coco; inferred from the suffix when omitted.",
    )
    split: str | None = Field(
        default=None,
        description="For a local export with train/valid/test folders: the split to evaluate (default test).",
    )
    label_column: str = Field(default="label", description="Column (or .npz array) holding the true labels.")
    id_column: str | None = Field(
        default=None, description="Column holding a stable sample id; row numbers are used when omitted."
    )
    feature_columns: list[str] | None = Field(
        default=None,
        description="Feature columns, in model input order; shell-style globs allowed (`p*`). "
        "Default: every column that is not the label, the id or a slice.",
    )
    features_key: str = Field(default="x", description="The .npz array holding the features.")
    images_dir: str | None = Field(
        default=None,
        description="task detection: the folder of the COCO file's images, relative to the plan's folder "
        "(default: the COCO file's folder).",
    )
    class_names: list[str] | None = Field(
        default=None, description="Class names in model output order; default: the sorted distinct labels."
    )
    positive_class: str | None = Field(
        default=None,
        description="task binary: the class precision, recall, F1, threshold tuning, ROC/PR curves and the "
        "reliability diagram are about; default: the second class of `class_names` (class_names[1]).",
    )
    slice_columns: list[str] = Field(default_factory=list, description="Columns to compute every metric by.")
    train_path: str | None = Field(
        default=None, description="Training set (same format), to check the test set for leakage."
    )
    train_split: str | None = Field(
        default=None,
        description="For an export with splits (Roboflow, or a local export): the training split, e.g. `train`, "
        "checked for leakage.",
    )
    train_manifest: str | None = Field(
        default=None,
        description="Text file listing the training samples' ids or sha256 file hashes (one per line; "
        "`sha256sum` output works), to check the test set for leakage.",
    )
    invalid_values: Literal["fail", "drop", "keep"] = Field(
        default="fail",
        description="NaN, infinite or (for float32 models) out-of-range feature values: fail (name the first by row "
        "id and column), drop their rows, or keep them (a model that handles missing values); counted on the card.",
    )
    slice_values: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Values each slice must cover (`ink: [low, mid, high]`), checked by `gates.curation`.",
    )

    @field_validator("class_names")
    @classmethod
    def _distinct_class_names(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            seen: set[str] = set()
            for name in v:
                if name in seen:
                    raise ValueError(
                        f"expected distinct class names, found {_cut(name)!r} twice; each output index needs its own name"
                    )
                seen.add(name)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.roboflow is None):
            raise ValueError("give exactly one of `path` (a local file or folder) and `roboflow`")
        if self.roboflow is not None and self.format not in (None, self.resolved_format):
            raise ValueError(
                f"`format` {self.format!r} contradicts `roboflow.format` {self.roboflow.format!r}; drop `format`"
            )
        stray = [k for k in self.slice_values if k not in self.slice_columns]
        if stray:
            raise ValueError(f"`slice_values` names {stray[0]!r}, which is not in `slice_columns`; add it there")
        return self

    @property
    def resolved_format(self) -> DatasetFormat:
        if self.roboflow is not None:
            return "coco" if self.roboflow.format == "coco" else "image_folder"
        if self.format is not None:
            return self.format
        suffix = Path(self.path or "").suffix.lower()
        return _SUFFIX_FORMATS.get(suffix, "image_folder")

    @property
    def display(self) -> str:
        """How reports name the test set."""
        if self.roboflow is not None:
            return f"roboflow {self.roboflow.key} ({self.roboflow.split})"
        return self.path or ""


class Preprocessing(_Strict):
    """How raw features become the model's input tensor: x * scale + shift, then (x - mean) / std per channel."""

    scale: float = 1.0
    shift: float = 0.0
    mean: list[float] | None = Field(default=None, description="Per-channel mean (image normalization).")
    std: list[float] | None = Field(default=None, description="Per-channel std (image normalization).")
    input_shape: list[int] | None = Field(
        default=None,
        description="Shape of one sample as the model wants it, e.g. [1, 8, 8] (batch axis excluded).",
    )
    dtype: Literal["float32", "float64", "int64"] = "float32"
    image_size: list[int] | None = Field(
        default=None, description="[height, width] images are resized to (image folders)."
    )
    grayscale: bool = False

    @model_validator(mode="after")
    def _mean_std_pair(self) -> Preprocessing:
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both `mean` and `std`, or neither")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ValueError(f"every `std` must be > 0, got {self.std}")
        if self.input_shape is not None and any(d <= 0 for d in self.input_shape):
            raise ValueError(f"every `input_shape` dimension must be > 0, got {self.input_shape}")
        return self


class ModelSpec(_Strict):
    """One model to evaluate."""

    path: str = Field(description="Model file, relative to the plan's folder.")
    format: ModelFormat | None = Field(
        default=None,
        description="onnx, coco_results (a COCO results JSON), torch (TorchScript, torch.export .pt2, or a "
        "state_dict with `module`) or predictions (a CSV/Parquet of your own per-sample predictions); inferred "
        "from the suffix when omitted.",
    )
    input_name: str | None = Field(default=None, description="Input tensor name; read from the model if omitted.")
    output_name: str | None = Field(
        default=None,
        description="Output to evaluate (ONNX output name, or key of a dict/tuple index for torch); "
        "default: the first floating-point output.",
    )
    outputs: Literal["logits", "probabilities"] = Field(
        default="probabilities",
        description="Whether the output is logits (softmax/sigmoid applied) or probabilities.",
    )
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    detector: DetectorSpec | None = Field(
        default=None, description="task detection, ONNX models: how to decode the outputs into boxes."
    )
    module: str | None = Field(
        default=None,
        description="For a torch state_dict (.safetensors or .pt): the nn.Module class to load it into, "
        "`package.module:Class` (a .py file under the plan's folder) or `path/to/file.py:Class`, inside the repository "
        "under evaluation; standard-library and installed modules are refused.",
    )
    module_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the `module` class's constructor."
    )
    allow_pickle: bool = Field(
        default=False,
        description="Allow pickle-based weights (TorchScript, torch.export .pt2, .pt state_dicts). Unpickling "
        "can run code; never honoured for pull requests from forks.",
    )

    @field_validator("module")
    @classmethod
    def _module_ref(cls, v: str | None) -> str | None:
        if v is not None and not MODULE_REF.fullmatch(v.strip()):
            raise ValueError(
                f"expected `package.module:Class` or `path/to/file.py:Class` (a file in the repository), got {v!r}"
            )
        return v.strip() if v is not None else v

    @property
    def resolved_format(self) -> ModelFormat:
        return format_of(self.path, self.format)


class Models(_Strict):
    candidate: ModelSpec
    baseline: ModelSpec | None = Field(default=None, description="Omit when there is no baseline to compare to.")


class ModalSpec(_Strict):
    """Run inference on Modal: the test set cut into shards, one container call per shard."""

    gpu: str | None = Field(
        default=None, description="Modal GPU type (`T4`, `A10G`, `L4`, `A100`, `H100`); CPU if omitted."
    )
    shard_mb: Annotated[float, Field(gt=0, le=1024)] = Field(
        default=32.0,
        description="Input rows per shard, in MB (rounded up to whole batches): a few hundred images, "
        "or many thousand table rows, per Modal call.",
    )
    shard_size: Annotated[int, Field(gt=0, le=10_000_000)] | None = Field(
        default=None,
        description="Samples per shard instead of `shard_mb` (rounded up to a multiple of `batch_size`).",
    )
    timeout_s: Annotated[int, Field(ge=10, le=86_400)] = Field(
        default=600, description="Per-shard execution timeout in seconds."
    )


class InferenceSpec(_Strict):
    batch_size: Annotated[int, Field(gt=0, le=1_000_000)] = 256
    threads: Annotated[int, Field(ge=0, le=256)] = Field(
        default=0, description="Intra-op threads (ONNX Runtime, torch); 0 lets the framework choose."
    )
    device: Device = Field(
        default="auto", description="auto (CUDA when present, else CPU), cpu, or cuda (an error when absent)."
    )
    seed: int = Field(default=0, description="Seeds torch and numpy before inference.")
    modal: ModalSpec | None = Field(
        default=None,
        description="Run inference on Modal (credentials: MODAL_TOKEN_ID / MODAL_TOKEN_SECRET, else ~/.modal.toml).",
    )


class ThresholdSpec(_Strict):
    """Threshold tuning in the metrics report (binary, and one-vs-rest per class)."""

    enabled: bool = True
    constraint: str | None = Field(
        default=None,
        description="`precision >= 0.95`: also find the threshold with the best recall that meets it "
        "(constrain precision, recall, specificity or fpr).",
    )

    @field_validator("constraint")
    @classmethod
    def _constraint(cls, v: str | None) -> str | None:
        from evalaction.exceptions import BadInput
        from evalaction.metrics.values import parse_constraint

        if v is None:
            return v
        try:
            return str(parse_constraint(v, where="metrics.thresholds.constraint"))
        except BadInput as exc:
            raise ValueError(str(exc)) from None


class MetricsSpec(_Strict):
    compute: list[str] = Field(
        default_factory=list, description="Metrics to compute (the primary is always added)."
    )
    primary: str = Field(description="The metric the headline and the bootstrap interval are about.")
    thresholds: ThresholdSpec = Field(default_factory=ThresholdSpec)
    plots: bool = Field(default=True, description="Draw PNG plots into the output folder and the HTML report.")


class CompareSpec(_Strict):
    """How candidate and baseline are compared (paired bootstrap, DeLong for ROC AUC, Holm across gates)."""

    alpha: Annotated[float, Field(gt=0, lt=0.5)] = Field(
        default=0.05,
        description="Significance level: (1 - alpha) intervals, Holm at alpha; `not_worse` and `equivalent` "
        "gates use the (1 - 2 alpha) interval.",
    )
    n_bootstrap: Annotated[int, Field(ge=100, le=1_000_000)] = 2000
    seed: int = 0
    stratified: bool = Field(
        default=False, description="Resample within each true class (class sizes fixed), not over all samples."
    )
    ci: Literal["bca", "percentile", "basic"] = Field(
        default="bca",
        description="Bootstrap interval: bca (bias-corrected and accelerated), percentile or basic. Accuracy always "
        "uses Tango's score interval on its exact counts; bca falls back to percentile when fewer than 100 rows "
        "have the two models disagree.",
    )


class WandbSpec(_Strict):
    """Log both models' metrics, the comparison and the per-sample flips to Weights & Biases (optional)."""

    project: str = Field(description="W&B project.")
    entity: str | None = Field(default=None, description="W&B user or team; your default entity when omitted.")
    mode: Literal["online", "offline", "disabled"] | None = Field(
        default=None,
        description="online, offline (run files only) or disabled; default: WANDB_MODE, else online. "
        "The API key comes from WANDB_API_KEY, never from the plan.",
    )
    tags: list[str] = Field(default_factory=list, description="Tags for the W&B run.")
    timeout_s: Annotated[float, Field(gt=0, le=300)] = Field(
        default=15.0,
        description="Deadline for starting the W&B run (`wandb.init`; W&B's own default is 90 s); past it the "
        "logging fails with one line and the evaluation goes on.",
    )
    log_models: bool = Field(
        default=True, description="Log the model files as W&B artifacts (sha256, dataset fingerprint: lineage)."
    )


class HistorySpec(_Strict):
    """Prior versions of the model, taken from git and re-scored on today's test set (evalaction/history/)."""

    versions: Annotated[int, Field(ge=1, le=50)] = Field(
        default=5, description="How many prior versions (distinct files, newest first) to re-score."
    )
    source: Literal["commits", "tags"] = Field(
        default="commits",
        description="commits: the commits on `ref` that changed the model file (`git log --follow`); "
        "tags: tags matching `tag_pattern` reachable from `ref` (releases).",
    )
    tag_pattern: str = Field(default="v*", description="Glob for `source: tags` (`git tag --list`).")
    ref: str | None = Field(
        default=None,
        description="The branch or commit whose history counts; default HEAD (the action: the base branch).",
    )
    path: str | None = Field(
        default=None, description="The model file's path in the repository; default the candidate's path."
    )
    cache_dir: str | None = Field(
        default=None,
        description="Scores per version, keyed by (model sha256, test-set fingerprint, scoring hash); "
        "default `<output>/history_cache` (keep it between workflow runs with actions/cache).",
    )


QuantMethod = Literal["dynamic", "static"]


def _all_quant_methods() -> list[QuantMethod]:
    return ["dynamic", "static"]


class QuantizationSpec(_Strict):
    """The INT8 trial of the candidate (classification, float32 input)."""

    enabled: bool = True
    methods: list[QuantMethod] = Field(default_factory=_all_quant_methods)
    calibration_size: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=128, description="Test rows (seeded, at most half) that calibrate static quantization."
    )
    accuracy_tolerance: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.01, description="Largest accuracy drop (fraction) at which INT8 still pays."
    )
    preprocess: bool = Field(default=True, description="Run ONNX Runtime's quant_pre_process first.")


class ReadinessSpec(_Strict):
    enabled: bool = True
    # fewer than 20 are raised to 20 by the stage (and said): the paired slowness test needs 20 pairs
    latency_repeats: Annotated[int, Field(ge=5, le=100_000)] = 50
    warmup: Annotated[int, Field(ge=0, le=10_000)] = 5
    batch_sizes: list[Annotated[int, Field(gt=0, le=1_000_000)]] | None = Field(
        default=None, description="Batch sizes to profile besides 1; default: `inference.batch_size`."
    )
    threads: Annotated[int, Field(ge=1, le=256)] = Field(
        default=1, description="ONNX Runtime intra-op threads while profiling (1 is steadiest on CI)."
    )
    time_budget_s: Annotated[float, Field(gt=0)] | None = Field(
        default=10.0, description="Cap on timing one batch size (at least 20 pairs run regardless)."
    )
    slowness_margin: Annotated[float, Field(ge=0, le=10)] = Field(
        default=0.05,
        description="A candidate slower than the baseline by at most this fraction is not 'significantly slower'.",
    )
    measure_memory: bool = Field(default=True, description="Peak memory of each model, in a child process.")
    quantization: QuantizationSpec = Field(default_factory=QuantizationSpec)


AttributionMethod = Literal[
    "auto", "integrated_gradients", "saliency", "occlusion", "feature_ablation", "shapley_value_sampling"
]
GRADIENT_METHODS = ("integrated_gradients", "saliency")


class AttributionsSpec(_Strict):
    """Captum attributions for the critical failures (top negative flips, most confident errors)."""

    enabled: bool | None = Field(
        default=None,
        description="Default: on for classification and regression; detection has none (it draws its worst "
        "images instead) and refuses `true`.",
    )
    max_samples: Annotated[int, Field(ge=0, le=200)] = Field(
        default=6, description="At most this many samples get attributions (flips first, then confident errors)."
    )
    method: AttributionMethod = Field(
        default="auto",
        description="auto: Integrated Gradients + Saliency for torch models; Occlusion (images) or Feature "
        "Ablation (tables) for any other model. Gradient methods need a torch model.",
    )

    @property
    def on(self) -> bool:
        """Whether the errors stage computes attributions (unset means on)."""
        return self.enabled is not False


class ErrorsSpec(_Strict):
    """How the error analysis sorts samples into categories."""

    confident_threshold: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.9, description="A wrong prediction at or above this probability is `confidently wrong`."
    )
    ambiguous_margin: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.1, description="A sample whose top-two probabilities differ by less than this is `ambiguous`."
    )
    ood_max_probability: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.5,
        description="A max-probability below this marks an out-of-distribution suspect (3+ classes); with "
        "`dataset.train_path`, distance to the training data is used too.",
    )
    max_listed: Annotated[int, Field(ge=1, le=1000)] = Field(default=20, description="Examples kept per list.")
    regression_flip_threshold: Annotated[float, Field(ge=0)] | None = Field(
        default=None,
        description="Regression: a sample whose |candidate error| exceeds |baseline error| by more than this "
        "(in the target's units) is a regression flip; default: the baseline's mean absolute error.",
    )
    seed: int = Field(default=0, description="Seed for sampled attributions and training-set subsampling.")
    attributions: AttributionsSpec = Field(default_factory=AttributionsSpec)


_THRESHOLD = re.compile(r"^\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)\s*$")
MetricRef = str


def parse_metric_ref(ref: str) -> tuple[str, str | None]:
    """`recall[7]` -> ("recall", "7"); `accuracy` -> ("accuracy", None)."""
    m = re.fullmatch(r"([a-z0-9_]+)(?:\[([^\]]+)\])?", ref.strip())
    if not m:
        raise ValueError(f"expected a metric name like `accuracy` or `recall[7]`, got {ref!r}")
    return m.group(1), m.group(2)


class ThresholdGate(_Strict):
    rule: str = Field(description="`>= 0.95`, `> 0.9`, `<= 0.1`, `< 0.2`.")
    blocking: bool = True

    @field_validator("rule")
    @classmethod
    def _rule(cls, v: str) -> str:
        if not _THRESHOLD.match(v):
            raise ValueError(f"expected a comparison like '>= 0.95', got {v!r}")
        return v.strip()

    @property
    def op(self) -> str:
        m = _THRESHOLD.match(self.rule)
        assert m  # validated above
        return m.group(1)

    @property
    def value(self) -> float:
        m = _THRESHOLD.match(self.rule)
        assert m
        return float(m.group(2))


class BaselineGate(_Strict):
    """A rule against the baseline, decided on the paired delta (candidate - baseline, improvement positive).

    better: the (1 - alpha) interval lies above +margin (and the Holm-adjusted p < alpha);
    not_worse: the (1 - 2 alpha) interval lies above -margin (non-inferiority; margin 0 asks for an improvement);
    equivalent: the (1 - 2 alpha) interval lies inside +-margin (TOST). See evalaction/stats/outcome.py.
    """

    rule: Literal["not_worse", "better", "equivalent"]
    margin: Annotated[float, Field(ge=0)] = Field(
        default=0.0,
        description="In the metric's units: 0.01 is one point of accuracy (at most 1 for a rate); 2 for RMSE is "
        "two units of the target.",
    )
    blocking: bool = True

    @model_validator(mode="after")
    def _equivalence_needs_margin(self) -> BaselineGate:
        if self.rule == "equivalent" and self.margin <= 0:
            raise ValueError("an `equivalent` rule needs a margin > 0, e.g. `margin: 0.01`")
        return self


class BudgetGate(_Strict):
    max: Annotated[float, Field(gt=0)]
    blocking: bool = True


BudgetName = Literal[
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "model_size_mb",
    "peak_memory_mb",
    "load_time_ms",
    # candidate / baseline median latency at batch 1; fails only when the paired interval lies above it
    "latency_ratio",
]
_ERROR_REF = re.compile(r"^negative_flips(?:\[([^\]]+)\])?$")


class ErrorGate(_Strict):
    max: Annotated[int, Field(ge=0)]
    blocking: bool = True


class OverrideSpec(_Strict):
    """Who may turn a NO-GO into a GO: a PR label or a workflow_dispatch input, recorded in the verdict.

    The action reads them from the event (evalaction.github.event.override_request); on a fork PR the label
    counts only on its own `labeled` event, added by someone other than the PR's author.
    """

    label: str | None = Field(
        default=None,
        description="PR label that overrides a NO-GO (fork PRs: only when added by someone other than the author).",
    )
    dispatch_input: str | None = Field(
        default=None,
        description="workflow_dispatch input that overrides a NO-GO when set (not empty, not `false`); "
        "its text is recorded as the reason.",
    )


class CountGate(_Strict):
    """At most `max` offending samples."""

    max: Annotated[int, Field(ge=0)] = 0
    blocking: bool = True


class NearDuplicateGate(CountGate):
    distance: Annotated[int, Field(ge=0, le=16)] = Field(
        default=4, description="Largest Hamming distance between 64-bit dHashes that counts as a near-duplicate."
    )


class MinCountGate(_Strict):
    """At least `min` samples (per class, per slice value)."""

    min: Annotated[int, Field(ge=1)]
    blocking: bool = True


class RatioGate(_Strict):
    """A ratio of at least `min` (smallest class / largest class)."""

    min: Annotated[float, Field(gt=0, le=1)]
    blocking: bool = True


class CurationGates(_Strict):
    """Gates on the test set itself: a verdict on a leaky or broken test set is a confident wrong verdict."""

    leakage: CountGate | None = Field(default=None, description="Test samples also in the training data.")
    duplicates: CountGate | None = Field(default=None, description="Samples repeating an earlier one exactly.")
    duplicate_ids: CountGate | None = Field(default=None, description="Ids used by more than one sample.")
    near_duplicates: NearDuplicateGate | None = Field(
        default=None, description="Images with a perceptual near-duplicate earlier in the test set."
    )
    labels_outside_classes: CountGate | None = Field(default=None, description="Labels not in the class list.")
    missing_labels: CountGate | None = Field(default=None, description="Samples with no label.")
    min_class_samples: MinCountGate | None = Field(default=None, description="Samples in the smallest class.")
    class_balance: RatioGate | None = Field(default=None, description="Smallest class count / largest.")
    slice_coverage: MinCountGate | None = Field(
        default=None, description="Samples of each slice value (`dataset.slice_values`, else the values seen)."
    )

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, v: Any) -> Any:
        """`leakage: 0` -> {max: 0}; `min_class_samples: 20` -> {min: 20}; `class_balance: 0.2` -> {min: 0.2}."""
        if not isinstance(v, dict):
            return v
        mins = {"min_class_samples", "class_balance", "slice_coverage"}
        return {
            k: (
                {"min" if k in mins else "max": r} if isinstance(r, int | float) and not isinstance(r, bool) else r
            )
            for k, r in v.items()
        }

    def items(self) -> list[tuple[str, CountGate | MinCountGate | RatioGate]]:
        """The configured gates, in declaration order."""
        return [(name, g) for name in type(self).model_fields if (g := getattr(self, name)) is not None]


class Gates(_Strict):
    thresholds: dict[MetricRef, ThresholdGate] = Field(
        default_factory=dict, description="Absolute rules: `accuracy: '>= 0.95'`."
    )
    vs_baseline: dict[MetricRef, BaselineGate] = Field(
        default_factory=dict,
        description="Rules against the baseline: `macro_f1: {rule: not_worse, margin: 0.01}`.",
    )
    vs_best_prior: dict[MetricRef, BaselineGate] = Field(
        default_factory=dict,
        description="Rules against the best prior version (needs `history:`), as `vs_baseline`: "
        "`accuracy: {rule: not_worse, margin: 0.01}`.",
    )
    budgets: dict[BudgetName, BudgetGate] = Field(
        default_factory=dict, description="Readiness budgets: `latency_p95_ms: 5`, `model_size_mb: 50`."
    )
    curation: CurationGates = Field(
        default_factory=CurationGates,
        description="Test-set checks: `leakage: {max: 0}`, `min_class_samples: 20`, `class_balance: 0.1`.",
    )
    errors: dict[str, ErrorGate] = Field(
        default_factory=dict,
        description="Error-analysis limits: `negative_flips: 10`, `negative_flips[7]: 2` (per true class).",
    )
    fail_on_no_go: bool = Field(default=True, description="Exit with code 1 on NO-GO.")
    allow_no_gates: bool = Field(
        default=False, description="GO when no gate is configured (or none could be evaluated); NO-GO otherwise."
    )
    override: OverrideSpec | None = Field(default=None, description="How a NO-GO may be overridden, audited.")
    undecidable: Literal["block", "condition"] = Field(
        default="block",
        description="A vs_baseline gate the test set is too small to decide (a candidate equal to the baseline "
        "would fail it): `block` keeps it blocking, `condition` turns its fail into a condition.",
    )

    @field_validator("errors", mode="before")
    @classmethod
    def _short_errors(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for key in v:
                if not _ERROR_REF.match(str(key)):
                    raise ValueError(
                        f"expected `negative_flips` or `negative_flips[class]`, found {key!r}; rename the key"
                    )
            return {k: ({"max": r} if isinstance(r, int) and not isinstance(r, bool) else r) for k, r in v.items()}
        return v

    @field_validator("thresholds", mode="before")
    @classmethod
    def _short_thresholds(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"rule": r} if isinstance(r, str) else r) for k, r in v.items()}
        return v

    @field_validator("vs_baseline", "vs_best_prior", mode="before")
    @classmethod
    def _short_rules(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"rule": r} if isinstance(r, str) else r) for k, r in v.items()}
        return v

    @field_validator("budgets", mode="before")
    @classmethod
    def _short_budgets(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                k: ({"max": r} if isinstance(r, int | float) and not isinstance(r, bool) else r)
                for k, r in v.items()
            }
        return v

    @property
    def count(self) -> int:
        return (
            len(self.thresholds)
            + len(self.vs_baseline)
            + len(self.vs_best_prior)
            + len(self.budgets)
            + len(self.errors)
        )


class Plan(_Strict):
    """The evaluation plan: `evalaction.yml`."""

    version: Literal[1] = 1
    name: str | None = Field(default=None, description="A title for reports; the plan file name by default.")
    task: Task
    dataset: DatasetSpec
    models: Models
    inference: InferenceSpec = Field(default_factory=InferenceSpec)
    metrics: MetricsSpec
    compare: CompareSpec = Field(default_factory=CompareSpec)
    readiness: ReadinessSpec = Field(default_factory=ReadinessSpec)
    errors: ErrorsSpec = Field(default_factory=ErrorsSpec)
    gates: Gates = Field(default_factory=Gates)
    wandb: WandbSpec | None = Field(
        default=None, description="Weights & Biases logging; nothing is logged without it."
    )
    history: HistorySpec | None = Field(
        default=None, description="Re-score prior versions of the model from git: the trend and `vs_best_prior`."
    )
    detection: DetectionSpec = Field(default_factory=DetectionSpec, description="task detection: report settings.")

    @model_validator(mode="after")
    def _models_fit_task(self) -> Plan:
        from evalaction.detection.plan_checks import check_detection_plan  # lazy: it reads Plan (no cycle)

        problem = check_detection_plan(self)
        if problem is not None:
            raise _FieldError(*problem)
        return self

    @model_validator(mode="after")
    def _metrics_known(self) -> Plan:
        known = metric_names(self.task)
        for where, names in (
            ("metrics.compute", self.metrics.compute),
            ("metrics.primary", [self.metrics.primary]),
            ("gates.thresholds", list(self.gates.thresholds)),
            ("gates.vs_baseline", list(self.gates.vs_baseline)),
            ("gates.vs_best_prior", list(self.gates.vs_best_prior)),
        ):
            for ref in names:
                name, cls_name = parse_metric_ref(ref)
                key = "" if where == "metrics.primary" else ref
                if cls_name is not None and "=" in cls_name:  # a slice: `accuracy[ink=light]`, `accuracy[ink=*]`
                    column = cls_name.split("=", 1)[0].strip()
                    if where != "gates.thresholds":
                        raise _FieldError(
                            where,
                            key,
                            "a metric or `metric[class]`",
                            repr(ref),
                            "slices gate in `gates.thresholds`",
                        )
                    if column not in self.dataset.slice_columns:
                        raise _FieldError(
                            where,
                            key,
                            "a column of `dataset.slice_columns`",
                            repr(column),
                            f"add `{column}` to `dataset.slice_columns`",
                        )
                    cls_name = None
                if cls_name == "*" and where != "gates.thresholds":
                    raise _FieldError(
                        where, key, "a metric or `metric[class]`", repr(ref), "`[*]` gates in `gates.thresholds`"
                    )
                if name not in known:
                    hint = difflib.get_close_matches(name, known, n=1)
                    if name in CATALOG:
                        tasks = "/".join(sorted(CATALOG[name].tasks))
                        fix = f"`{name}` is a {tasks} metric: pick a {self.task} metric or change `task`"
                    else:
                        fix = f"did you mean `{hint[0]}`?" if hint else f"use one of: {', '.join(known)}"
                    raise _FieldError(where, key, f"a {self.task} metric name", repr(name), fix)
                if cls_name is not None and not CATALOG[name].per_class:
                    raise _FieldError(
                        where, key, "a per-class metric before `[class]`", repr(name), "drop `[...]`"
                    )
                if where != "metrics.compute" and not CATALOG[name].directional:
                    raise _FieldError(
                        where,
                        key,
                        "a metric with a better direction",
                        repr(name),
                        f"`{name}` is descriptive: list it under `metrics.compute`",
                    )
        return self

    @model_validator(mode="after")
    def _history_applies(self) -> Plan:
        if self.gates.vs_best_prior and self.history is None:
            raise _FieldError(
                "gates.vs_best_prior", "", "a `history:` section", "none", "add `history: {versions: 5}`"
            )
        if self.history is not None and self.task == "detection":
            raise _FieldError("history", "", "a classification or regression task", "task: detection", "drop it")
        return self

    @model_validator(mode="after")
    def _rate_margins_are_fractions(self) -> Plan:
        """A rate (accuracy, recall, mAP: values in [0, 1]) moves by at most 1; other metrics keep their units."""
        rules = [("gates.vs_baseline", r, g) for r, g in self.gates.vs_baseline.items()]
        rules += [("gates.vs_best_prior", r, g) for r, g in self.gates.vs_best_prior.items()]
        for where, ref, gate in rules:
            name = parse_metric_ref(ref)[0]
            if gate.margin > 1 and metric_is_rate(name):
                raise _FieldError(
                    where,
                    f"{ref}.margin",
                    f"a margin <= 1 for `{name}`, a rate in [0, 1] (0.01 is one percentage point)",
                    f"{gate.margin:g}",
                    f"write {gate.margin:g} points as {gate.margin / 100:g}",
                )
        return self

    @model_validator(mode="after")
    def _fields_fit_the_task(self) -> Plan:
        """A field set away from its default for a task that cannot use it is refused, not ignored. (Compared with
        the default rather than `model_fields_set`, so a results.json read back validates the same way.)"""
        classification_only = (
            ("errors", "confident_threshold", 0.9, "probabilities"),
            ("errors", "ambiguous_margin", 0.1, "probabilities"),
            ("errors", "ood_max_probability", 0.5, "probabilities"),
            ("compare", "stratified", False, "classes to stratify by"),
        )
        if self.task in ("regression", "detection"):
            for section, key, default, needs in classification_only:
                value = getattr(getattr(self, section), key)
                if value != default and not (self.task == "detection" and key == "stratified"):
                    raise _FieldError(
                        section, key, f"a classification task (it needs {needs})", f"task: {self.task}", "drop it"
                    )
        if self.task == "regression" and self.metrics.thresholds.constraint is not None:
            raise _FieldError(
                "metrics.thresholds",
                "constraint",
                "a classification task (thresholds cut probabilities)",
                "task: regression",
                "drop it",
            )
        return self

    @model_validator(mode="after")
    def _flip_gates_need_classes(self) -> Plan:
        """Negative flips need a right and a wrong: regression has none (its regression flips are listed in the
        errors section, with `errors.regression_flip_threshold`)."""
        if self.task == "regression" and self.gates.errors:
            ref = next(iter(self.gates.errors))
            raise _FieldError(
                "gates.errors",
                ref,
                "a classification or detection task (negative flips need right and wrong predictions)",
                "task: regression",
                "gate the error metric instead, e.g. `vs_baseline: {rmse: {rule: not_worse, margin: 2}}`",
            )
        return self

    @model_validator(mode="after")
    def _curation_applies(self) -> Plan:
        cur, ds = self.gates.curation, self.dataset
        if cur.leakage and not (ds.train_path or ds.train_split or ds.train_manifest):
            raise _FieldError(
                "gates.curation",
                "leakage",
                "training data to check against",
                "none",
                "set `dataset.train_path`, `dataset.train_split` or `dataset.train_manifest`",
            )
        if self.task == "regression":
            for key in ("labels_outside_classes", "min_class_samples", "class_balance"):
                if getattr(cur, key) is not None:
                    raise _FieldError(
                        "gates.curation", key, "a classification task", "task: regression", "drop this gate"
                    )
        if cur.slice_coverage and not ds.slice_columns:
            raise _FieldError(
                "gates.curation",
                "slice_coverage",
                "slices to cover",
                "no `dataset.slice_columns`",
                "name the slice columns (and `dataset.slice_values`)",
            )
        return self

    @model_validator(mode="after")
    def _gradient_methods_need_torch(self) -> Plan:
        method = self.errors.attributions.method
        if method in GRADIENT_METHODS:
            for role, spec in (("candidate", self.models.candidate), ("baseline", self.models.baseline)):
                if spec is not None and not _gradient_explainable(spec):
                    raise _FieldError(
                        "errors.attributions.method",
                        "",
                        "a method that works on this model",
                        f"{method!r} for the {role} model {spec.path!r} (not a torch model)",
                        "use auto, occlusion, feature_ablation or shapley_value_sampling",
                    )
        return self

    @model_validator(mode="after")
    def _positive_class_applies(self) -> Plan:
        positive, names = self.dataset.positive_class, self.dataset.class_names
        if positive is None:
            return self
        if self.task != "binary":
            raise _FieldError(
                "dataset.positive_class", "", "a binary task", f"task {self.task}", "drop `positive_class`"
            )
        if names is not None and positive not in names:
            raise _FieldError(
                "dataset.positive_class", "", f"one of class_names {names}", repr(positive), "name one of them"
            )
        return self

    @property
    def metric_list(self) -> list[str]:
        """The metrics to compute: primary first, then the plan's list, then every gated metric."""
        out: list[str] = []
        for ref in [
            self.metrics.primary,
            *self.metrics.compute,
            *self.gates.thresholds,
            *self.gates.vs_baseline,
            *self.gates.vs_best_prior,
        ]:
            name = parse_metric_ref(ref)[0]
            if name not in out:
                out.append(name)
        return out


def metric_is_rate(name: str) -> bool:
    """Whether a metric's values lie in [0, 1], so its differences read as percentage points (metrics/catalog.py;
    an unknown name is refused elsewhere, with a did-you-mean)."""
    info = CATALOG.get(name)
    return info is None or info.unit_interval


def _gradient_explainable(spec: ModelSpec) -> bool:
    try:
        return model_kind(spec.path, spec.format, spec.module).explainer == "gradient"
    except MissingModule:
        return True  # a torch file; the missing `module` is reported when the model is opened


def _cut(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


class _FieldError(ValueError):
    """A validation error that already knows its field, its found value, and the fix."""

    def __init__(self, field: str, key: str, expected: str, found: str, fix: str) -> None:
        super().__init__(f"expected {expected}, found {found}; {fix}")
        self.field = f"{field}.{key}" if key else field
        self.expected, self.found, self.fix = expected, found, fix
