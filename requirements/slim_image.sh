#!/bin/sh
# Keep the image small: delete from site-packages what no run of the action needs, and write bytecode only for
# the modules a run imports. The Dockerfile runs it in the same RUN as each `pip install` (a deletion in a later
# layer does not shrink an image); requirements/measure_image.py runs it on a venv built the same way, so the
# size recorded in docs/github-action.md is the size of what this deletes.
#
#   slim_image.sh prune SITE_PACKAGES PYTHON   after each `pip install --no-compile`
#   slim_image.sh strip-torch SITE_PACKAGES    after torch's install (needs binutils' `strip`)
#   slim_image.sh warm PYTHON DEMO_DIR         once, last: run the digits demo and import every service, with
#                                              bytecode writing on, so only what a run imports gets a .pyc
set -eu

prune() {
    sp=$1
    py=$2
    # torch: C++ headers, C++ test binaries and test libraries, protoc: nothing in the action compiles or tests
    # C++. torch_shm_manager stays (torch.multiprocessing's file_system sharing strategy starts it).
    rm -rf "$sp/torch/include" "$sp/torch/test" "$sp/torch/share/cmake"
    if [ -d "$sp/torch/bin" ]; then
        find "$sp/torch/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} +
    fi
    rm -f "$sp"/torch/lib/*_test.so
    # Static libraries link nothing at run time.
    find "$sp" -name '*.a' -type f -delete
    # Packages' own test suites (folders named `tests`; roboflow even ships a top-level `tests` package). No
    # package here imports one at run time: jinja2's `tests` is a module (a file), mpmath imports its
    # `tests` only inside mpmath.runtests(). onnx's backend test data is the same kind of thing.
    find "$sp" -type d -name tests -prune -exec rm -rf {} +
    rm -rf "$sp/onnx/backend/test/data"
    # OpenCV (~0.17 GB) comes only from roboflow, which imports cv2 only to draw and upload predictions and
    # images, never on the path evalaction takes (datasets/_roboflow_worker.py: workspace -> project ->
    # version -> download; tests/integration/test_roboflow.py passes with cv2 made unimportable).
    if [ -d "$sp/cv2" ]; then
        "$py" -m pip uninstall --yes --quiet opencv-python-headless
    fi
    # pyarrow's Arrow Flight RPC and S3 file system (~0.05 GB): the action reads and writes local files only.
    # `import pyarrow.fs` tolerates a missing S3 module (S3FileSystem then says it is not built in).
    rm -f "$sp"/pyarrow/libarrow_flight.so* "$sp"/pyarrow/libarrow_python_flight.so* \
        "$sp"/pyarrow/_flight.cpython-*.so "$sp"/pyarrow/libarrow_s3.so* "$sp"/pyarrow/_s3fs.cpython-*.so
    rm -rf "$sp/pyarrow/include"
    # Bytecode is written by `warm` for what a run imports; pip compiled every module (~0.34 GB).
    find "$sp" -type d -name __pycache__ -prune -exec rm -rf {} +
}

strip_torch() {
    sp=$1
    # torch's own shared libraries ship their full static symbol tables (.symtab/.strtab, ~0.1 GB, 89 MB of it
    # in libtorch_cpu.so); loading needs only the dynamic symbols, which stay. Only torch's: the libraries
    # that auditwheel vendored and patched (numpy.libs, scipy.libs, torch's libgomp) are left as they are.
    strip --strip-unneeded "$sp"/torch/lib/*.so "$sp"/torch/_C.cpython-*.so
}

warm() {
    py=$1
    demo=$2
    out=$(mktemp -d)
    # The digits demo ends in NO-GO (exit 1) by design; any other exit code is a broken image. `console` is the
    # installed command: its figures are drawn in a second process, which writes its bytecode too.
    rc=0
    PYTHONDONTWRITEBYTECODE='' "$py" -c 'from evalaction.cli import console; console()' run -c "$demo/evalaction.yml" -o "$out/run" >"$out/log" 2>&1 || rc=$?
    if [ "$rc" -gt 1 ] || [ ! -f "$out/run/results.json" ]; then
        cat "$out/log" >&2
        exit "$rc"
    fi
    PYTHONDONTWRITEBYTECODE='' "$py" -c 'import torch, captum.attr, onnxruntime, sklearn.metrics, scipy.stats, pandas, pyarrow.parquet, matplotlib.pyplot, roboflow, wandb, modal, github, evalaction.github.action, evalaction.github.publish, evalaction.datasets.roboflow'
    rm -rf "$out"
}

case "${1:-}" in
prune) prune "$2" "$3" ;;
strip-torch) strip_torch "$2" ;;
warm) warm "$2" "$3" ;;
*)
    echo "usage: $0 prune SITE_PACKAGES PYTHON | strip-torch SITE_PACKAGES | warm PYTHON DEMO_DIR" >&2
    exit 2
    ;;
esac
