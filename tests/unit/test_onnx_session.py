"""The one ONNX Runtime session factory: options, file checks, and external data kept inside the model's folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from evalaction.exceptions import CannotLoadModel, LfsPointerInsteadOfWeights, UnsafeModelFormat
from evalaction.runners.onnx_session import open_onnx_session, session_options
from tests.unit.onnx_builders import digits_like, mlp


def _with_external_weights(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """An MLP whose weights live in `weights.bin` beside it, and what it predicts with them all in one file."""
    inline = mlp(tmp_path / "inline.onnx", hidden=8)
    expected = open_onnx_session(inline, role="candidate").run(None, {"input": digits_like(4)})[0]
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "m.onnx"
    onnx.save_model(
        onnx.load(str(inline)), str(path), save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    return path, expected


def _relocate(path: Path, location: str) -> None:
    """Point every external tensor of the model at `location` (what a hostile PR could commit)."""
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    path.write_bytes(model.SerializeToString())


def test_external_data_beside_the_model_loads_and_predicts_as_inline(tmp_path: Path) -> None:
    path, expected = _with_external_weights(tmp_path)
    assert (path.parent / "weights.bin").stat().st_size > 64 * 8 * 4  # the weights really left the .onnx
    got = open_onnx_session(path, role="candidate", threads=1).run(None, {"input": digits_like(4)})[0]
    np.testing.assert_array_equal(got, expected)  # same file contents, same machine, same kernels


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname", "sub/../../secret.bin"])
def test_external_data_outside_the_models_folder_is_refused_before_onnx_runtime(
    tmp_path: Path, location: str
) -> None:
    path, _ = _with_external_weights(tmp_path)
    (tmp_path / "secret.bin").write_bytes((path.parent / "weights.bin").read_bytes())
    _relocate(path, location)
    with pytest.raises(UnsafeModelFormat) as err:
        open_onnx_session(path, role="candidate")
    assert str(err.value) == (
        f"candidate model m.onnx: its weights name the external data file {location!r}, outside the model's "
        "folder; keep external data beside the .onnx file (onnx.save_model(..., location='weights.bin'))"
    )


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    path, _ = _with_external_weights(tmp_path)
    (tmp_path / "secret.bin").write_bytes((path.parent / "weights.bin").read_bytes())
    (path.parent / "weights.bin").unlink()
    (path.parent / "weights.bin").symlink_to(tmp_path / "secret.bin")
    with pytest.raises(UnsafeModelFormat, match="outside the model's folder"):
        open_onnx_session(path, role="baseline")


def test_missing_external_data_is_named(tmp_path: Path) -> None:
    path, _ = _with_external_weights(tmp_path)
    (path.parent / "weights.bin").unlink()
    with pytest.raises(CannotLoadModel, match=r"^baseline model m.onnx: .*'weights.bin', which is missing; "):
        open_onnx_session(path, role="baseline")


def test_file_checks_and_load_errors_are_one_line(tmp_path: Path) -> None:
    pointer = tmp_path / "p.onnx"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")
    with pytest.raises(LfsPointerInsteadOfWeights):
        open_onnx_session(pointer, role="candidate")
    garbage = tmp_path / "g.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(CannotLoadModel) as err:
        open_onnx_session(garbage, role="candidate")
    assert str(err.value).startswith("candidate model g.onnx: ONNX Runtime cannot load it (")
    assert "\n" not in str(err.value)


def test_options_are_reproducible_sequential_and_quiet() -> None:
    import onnxruntime as ort

    options = session_options(3)
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.log_severity_level == 3
    assert session_options().intra_op_num_threads == 0  # ONNX Runtime's default


def test_the_light_reader_gives_onnx_loads_message(tmp_path: Path) -> None:
    """`onnx_proto.load_model` parses to the same ModelProto `onnx.load(..., load_external_data=False)` gives,
    external-data entries included, and its classes are onnx's own."""
    from evalaction.runners import onnx_proto

    model, _ = _with_external_weights(tmp_path)
    light = onnx_proto.load_model(model)
    reference = onnx.load(str(model), load_external_data=False)
    assert light.SerializeToString() == reference.SerializeToString()
    assert isinstance(light, onnx.ModelProto)
    assert onnx_proto.external_location() == onnx.TensorProto.EXTERNAL
    assert onnx_proto.tensor_type("INT8") == onnx.TensorProto.INT8


def test_opening_and_sizing_a_model_does_not_import_the_onnx_package(tmp_path: Path) -> None:
    """`import onnx` costs ~0.7 s (issue #16): the session's external-data check and readiness's size and
    parameter count read the file without it."""
    import subprocess
    import sys

    model, _ = _with_external_weights(tmp_path)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from evalaction.runners.onnx_session import open_onnx_session\n"
        "from evalaction.readiness.profile import model_file_stats\n"
        f"open_onnx_session(Path({str(model)!r}), role='candidate')\n"
        f"size, params = model_file_stats(Path({str(model)!r}))\n"
        "print(params, 'onnx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    reference = onnx.load(str(model), load_external_data=False)
    params = sum(
        int(np.prod(t.dims)) for t in reference.graph.initializer if t.data_type == onnx.TensorProto.FLOAT
    )
    assert out.stdout.split() == [str(params), "False"]
