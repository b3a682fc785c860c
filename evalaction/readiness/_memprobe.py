"""Child process of `measure_peak_memory`: print this process's peak resident memory as JSON.

    python _memprobe.py SAMPLE.npy THREADS                 bare: imports and input only
    python _memprobe.py SAMPLE.npy THREADS MODEL.onnx B... load MODEL, run each batch size B three times

Run as a script (not `-m`) so it needs only numpy and onnxruntime, not evalaction on the path. Both
modes do the same imports and load the same input, so their difference is the model's own cost.
"""

from __future__ import annotations

import json
import resource
import sys

import numpy as np
import onnxruntime as ort


def maxrss_bytes() -> int:
    """Peak resident set size of this process in bytes.

    On Linux, VmHWM from /proc/self/status (proc(5)): the high-water mark of this process's own
    address space. Not ru_maxrss there: Linux carries the parent's peak across fork and execve
    (exec_mmap folds the old mm's high-water mark into the signal struct), so a child of a large
    parent would report the parent's size. Elsewhere ru_maxrss (macOS reports bytes).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def main(argv: list[str]) -> int:
    sample = np.load(argv[0], allow_pickle=False)
    threads = int(argv[1])
    if len(argv) > 2:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(argv[2], sess_options=options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for size in (int(b) for b in argv[3:]):
            batch = np.ascontiguousarray(sample[np.arange(size) % sample.shape[0]])
            for _ in range(3):
                session.run(None, {name: batch})
    print(json.dumps({"maxrss_bytes": maxrss_bytes()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
