#!/usr/bin/env python3
"""PyTorch's GroupNorm on the GPU, timed the way bench/gpu_norm_bench.cu times normrt (../shared/GPU.md):
many calls captured in one CUDA graph and replayed, inputs and outputs rotated over enough buffers to exceed
three times the L2, median of 15 replays. Peers: F.group_norm, F.group_norm + F.silu (eager), torch.compile of
the latter, and the same-size device-to-device copy.

    python3 bench/gpu_norm.py --out torch.jsonl [--normrt normrt.jsonl --table table.md] [--no-compile]
        [--shape NxCxHxW:G ...] [--dtypes fp16 fp32] [--layouts NCHW NHWC] [--hot]

--shape replaces the default shapes (as gpu_norm_bench --shape); --hot rotates over two buffers only, so small
tensors stay in L2 as they do between a network's layers (pair it with gpu_norm_bench --hot).

With --normrt, also prints (and writes to --table) the combined table: normrt vs copy vs PyTorch.
"""
import argparse
import json
import math
import sys
import time

SHAPES = [(2, 320, 64, 64, 32), (8, 320, 64, 64, 32), (8, 640, 32, 32, 32), (16, 1280, 16, 16, 32),
          (32, 256, 56, 56, 32), (1, 64, 256, 256, 32), (1, 512, 64, 64, 32), (64, 512, 8, 8, 32)]


def time_graph(torch, body, iters, replays=15):
    """Median microseconds per call of a CUDA graph of `iters` calls of body(i)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for i in range(3):
            body(i)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(iters):
            body(i)
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(replays):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        stop.record()
        stop.synchronize()
        times.append(1000.0 * start.elapsed_time(stop) / iters)
    del graph
    times.sort()
    return times[len(times) // 2]


def run_torch(args):
    import torch
    import torch.nn.functional as F

    torch._dynamo.config.cache_size_limit = 256
    if hasattr(torch._dynamo.config, "accumulated_cache_size_limit"):
        torch._dynamo.config.accumulated_cache_size_limit = 1024
    props = torch.cuda.get_device_properties(0)
    l2 = props.L2_cache_size
    out = open(args.out, "w")
    out.write(json.dumps({"gpu": props.name, "torch": torch.__version__, "l2_bytes": l2}) + "\n")
    print(f"# {props.name}, torch {torch.__version__}, L2 {l2 / 1e6:.0f} MB", flush=True)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    for dtype_name in args.dtypes:
        dtype = torch.float16 if dtype_name == "fp16" else torch.float32
        for layout in args.layouts:
            for (N, C, H, W, G) in args.shapes:
                if args.quick and N > 8:
                    continue
                t0 = time.time()
                esize = 2 if dtype == torch.float16 else 4
                nbytes = N * C * H * W * esize
                sets = 2 if args.hot else max(2, math.ceil(3.0 * l2 / (2.0 * nbytes)) + 1)
                est_us = 2.0 * nbytes / 2.5e12 * 1e6 + 2.0
                iters = max(20, min(1000, int(3000.0 / est_us)))
                fmt = torch.channels_last if layout == "NHWC" else torch.contiguous_format
                xs = []
                for s in range(sets):
                    x = torch.randn(N, C, H, W, device="cuda", dtype=torch.float32, generator=gen)
                    x = (x + torch.rand(1, C, 1, 1, device="cuda", generator=gen) - 0.5).to(dtype)
                    xs.append(x.contiguous(memory_format=fmt))
                ys = [torch.empty_like(x) for x in xs]
                w = (1.0 + 0.5 * torch.rand(C, device="cuda", generator=gen)).to(dtype)
                b = (0.5 * torch.rand(C, device="cuda", generator=gen) - 0.25).to(dtype)
                outs = [None] * sets

                def gn(x):
                    return F.group_norm(x, G, w, b, 1e-5)

                def gn_silu(x):
                    return F.silu(F.group_norm(x, G, w, b, 1e-5))

                def keep(fn):
                    def body(i):
                        outs[i % sets] = fn(xs[i % sets])
                    return body

                row = {"N": N, "C": C, "H": H, "W": W, "G": G, "dtype": dtype_name, "layout": layout,
                       "iters": iters, "sets": sets, "hot": args.hot}
                row["torch_copy_us"] = time_graph(torch, lambda i: ys[i % sets].copy_(xs[i % sets]), iters)
                row["torch_gn_us"] = time_graph(torch, keep(gn), iters)
                row["torch_gn_silu_us"] = time_graph(torch, keep(gn_silu), iters)
                if not args.no_compile:
                    try:
                        compiled = torch.compile(gn_silu, dynamic=False)
                        ref = gn_silu(xs[0]).float()
                        got = compiled(xs[0]).float()
                        row["compile_max_abs_diff"] = float((ref - got).abs().max())
                        row["torch_compile_gn_silu_us"] = time_graph(torch, keep(compiled), iters)
                    except Exception as e:  # record and go on: one failure must not lose the other numbers
                        row["torch_compile_error"] = f"{type(e).__name__}: {e}"[:300]
                row["seconds"] = round(time.time() - t0, 1)
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(json.dumps(row), flush=True)
                del xs, ys, outs
                torch.cuda.empty_cache()
    out.close()


def load(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    head = rows[0] if rows and "N" not in rows[0] else {}
    return head, {(r["N"], r["C"], r["H"], r["W"], r["dtype"], r["layout"]): r for r in rows if "N" in r}


def table(torch_path, normrt_path):
    th, t = load(torch_path)
    nh, n = load(normrt_path)
    lines = [
        f"GPU: {nh.get('gpu', '?')}; 1 GiB copy {nh.get('copy_1GiB_tbs', 0):.2f} TB/s; torch {th.get('torch', '?')}."
        " Microseconds per call, CUDA-graph replay, inputs rotated over > 3x L2 (two buffers, in L2, where the"
        " runs were --hot). %copy = copy time / normrt time"
        " (100% = the same-size device-to-device copy measured in the same run).",
        "",
        "| N×C×H×W, G | dtype | layout | copy | normrt GN | normrt GN+SiLU | % of copy GN / GN+SiLU | F.group_norm |"
        " GN+SiLU eager | torch.compile GN+SiLU | vs eager GN+SiLU | vs compile |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in n.items():
        p = t.get(key, {})
        N, C, H, W, dt, lay = key
        copy = r["copy_us"]
        ns = r["normrt_gn_silu_us"]
        eager = p.get("torch_gn_silu_us")
        comp = p.get("torch_compile_gn_silu_us")

        def f(v):
            return f"{v:.1f}" if isinstance(v, (int, float)) else "–"
        lines.append(
            f"| {N}×{C}×{H}×{W}, {r['G']} | {dt} | {lay} | {f(copy)} | {f(r['normrt_gn_us'])} | {f(ns)} | "
            f"{100.0 * copy / r['normrt_gn_us']:.0f}% / {100.0 * copy / ns:.0f}% | {f(p.get('torch_gn_us'))} | {f(eager)} | {f(comp)} | "
            f"{(eager / ns if eager else float('nan')):.1f}x | {(comp / ns if comp else float('nan')):.1f}x |")
    return "\n".join(lines) + "\n"


def parse_shape(text):
    """NxCxHxW:G, e.g. 1x256x56x56:32."""
    try:
        dims, groups = text.split(":")
        N, C, H, W = (int(v) for v in dims.split("x"))
        G = int(groups)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape wants NxCxHxW:G, got {text!r}")
    if min(N, C, H, W, G) <= 0 or C % G:
        raise argparse.ArgumentTypeError(f"--shape wants positive sizes with G dividing C, got {text!r}")
    return (N, C, H, W, G)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="torch.jsonl")
    ap.add_argument("--normrt", help="normrt results (gpu_norm_bench --out) to merge into a table")
    ap.add_argument("--table", help="write the merged markdown table here")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--table-only", action="store_true", help="only merge existing --out and --normrt files")
    ap.add_argument("--shape", dest="shapes", action="append", type=parse_shape,
                    help="NxCxHxW:G (repeatable; replaces the default shapes)")
    ap.add_argument("--dtypes", nargs="+", choices=["fp16", "fp32"], default=["fp16", "fp32"])
    ap.add_argument("--layouts", nargs="+", choices=["NCHW", "NHWC"], default=["NCHW", "NHWC"])
    ap.add_argument("--hot", action="store_true", help="two buffers only: the data stays in L2")
    args = ap.parse_args()
    args.shapes = args.shapes or SHAPES
    if not args.table_only:
        run_torch(args)
    if args.normrt:
        text = table(args.out, args.normrt)
        print(text)
        if args.table:
            open(args.table, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
