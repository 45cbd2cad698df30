#!/usr/bin/env python3
"""CPU peer latencies for normrt's fixture models: ONNX Runtime vs PyTorch.

Needs a Python with torch, numpy and onnxruntime, e.g. the repo's .venv made by

    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install onnxruntime==1.24.4

Usage:

    .venv/bin/python bench/cpu_peers.py --fixtures DIR [--opset 17] [--batches 1 8]

DIR is the output of tests/fixtures/make_fixtures.py. For each model it loads
DIR/<model>_op<opset>/model.onnx into ONNX Runtime (CPUExecutionProvider,
intra_op_num_threads=THREADS) and rebuilds the same seeded PyTorch module
(torch.set_num_threads(THREADS), eval, no_grad), then prints one JSON line per
(model, batch, runtime):

    {"model": ..., "batch": ..., "runtime": "onnxruntime"|"pytorch", "median_ms": ...}

plus a few extra keys (opset, threads, repeats, min_ms, versions; for
onnxruntime also max_abs_diff against PyTorch on the same inputs; for pytorch
the libblas.so.3 it resolves to, since Debian's torch uses the system BLAS for
matmul and the netlib reference BLAS makes attention much slower).
ONNX Runtime is timed first and its session released before PyTorch is timed,
so ORT's spinning worker threads do not steal cores from PyTorch.
Run on an otherwise idle machine: with 2 threads on 2 cores, any other load
makes both runtimes' numbers erratic.
Timing: WARMUP runs, then up to REPEATS runs, stopping early once MAX_SECONDS
have passed (at least MIN_REPEATS runs); median of the timed runs.
"""

import argparse
import functools
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
from make_fixtures import MODEL_NAMES, build_models  # noqa: E402


def blas_library():
    """The BLAS library torch actually loaded (Linux: from /proc/self/maps).

    Debian's torch (BLAS_INFO=generic) calls the system libblas.so.3 for
    matmul and for the im2col convolution it uses at small batch. With the
    default netlib reference BLAS that is several times slower than with
    OpenBLAS, so every PyTorch result line records which one was used.
    """
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # make sure BLAS is loaded
    try:
        with open("/proc/self/maps") as f:
            paths = {ln.split()[-1] for ln in f if "blas" in ln.lower() and "/" in ln}
    except OSError:
        return None
    paths = sorted(p for p in paths if ".so" in p)
    return ";".join(paths) if paths else None


def time_fn(fn, warmup, repeats, max_seconds, min_repeats):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= min_repeats and time.perf_counter() - start > max_seconds:
            break
    return statistics.median(times), min(times), len(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description="ONNX Runtime / PyTorch CPU latency")
    ap.add_argument("--fixtures", required=True, help="dir written by make_fixtures.py")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--models", nargs="*", default=list(MODEL_NAMES), choices=MODEL_NAMES)
    ap.add_argument("--batches", nargs="*", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--min-repeats", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=2.0)
    ap.add_argument("--runtimes", nargs="*", default=["onnxruntime", "pytorch"],
                    choices=["onnxruntime", "pytorch"])
    args = ap.parse_args(argv)

    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    blas = blas_library()
    specs = build_models(args.models)
    for name, spec in specs.items():
        path = os.path.join(args.fixtures, "%s_op%d" % (name, args.opset), "model.onnx")
        if not os.path.exists(path):
            sys.exit("missing %s (run tests/fixtures/make_fixtures.py --out %s)"
                     % (path, args.fixtures))
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, sess_options=so,
                                    providers=["CPUExecutionProvider"])
        in_names = [i.name for i in sess.get_inputs()]
        cases = []
        for batch in args.batches:
            ins = spec.make_inputs(spec.bench_shapes(batch), "bench_b%d" % batch)
            with torch.no_grad():
                ref = spec.module(*ins)
            ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
            cases.append((batch, ins, ref))

        def base(batch):
            return {"model": name, "batch": batch, "opset": args.opset,
                    "threads": args.threads}

        # ORT's intra-op pool spin-waits after each run; on a small machine that
        # steals cores from PyTorch, so all ORT timing happens first and the
        # session is released before PyTorch is timed.
        if "onnxruntime" in args.runtimes:
            for batch, ins, ref in cases:
                feed = {n: t.numpy() for n, t in zip(in_names, ins)}
                got = sess.run(None, feed)
                diff = max(float(np.abs(g - r.numpy()).max()) for g, r in zip(got, ref))
                med, mn, n = time_fn(functools.partial(sess.run, None, feed), args.warmup,
                                     args.repeats, args.max_seconds, args.min_repeats)
                print(json.dumps(dict(base(batch), runtime="onnxruntime",
                                      median_ms=round(med, 4), min_ms=round(mn, 4),
                                      repeats=n, max_abs_diff=diff,
                                      onnxruntime=ort.__version__)), flush=True)
        del sess
        if "pytorch" in args.runtimes:
            for batch, ins, ref in cases:
                def run_torch():
                    with torch.no_grad():
                        spec.module(*ins)
                med, mn, n = time_fn(run_torch, args.warmup, args.repeats,
                                     args.max_seconds, args.min_repeats)
                print(json.dumps(dict(base(batch), runtime="pytorch",
                                      median_ms=round(med, 4), min_ms=round(mn, 4),
                                      repeats=n, torch=torch.__version__,
                                      blas=blas)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
