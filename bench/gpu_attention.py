#!/usr/bin/env python3
"""normrt's fused attention kernel (ai.normrt Attention, src/cuda/attention.cu) beside PyTorch on the same GPU.

One engine per shape holds a single Attention node (Q, K, V [N, L, H, D] in the token-major layout the
projections write); `normrt bench` times it (device events around each replay of its CUDA graph). The peers,
timed the same way (each call captured in a CUDA graph, each replay timed alone with events, median):
  sdpa      F.scaled_dot_product_attention on head-major views of the same tensors (PyTorch picks its fastest
            backend: flash attention for fp16; its output stays head-major, so the peer skips the copy a model
            needs to return to tokens);
  explicit  the written-out chain normrt's pass fuses: Q K^T * scale, softmax, P V, back to token-major.

    python3 bench/gpu_attention.py --normrt build/normrt --out out/attention [--precisions fp16 tf32]
        [--shapes 8:1024:8:40 ...] [--iterations 200] [--rounds 3] [--variant main=OLD_LIBS --variant new=LIBS]

--variant NAME=LD_LIBRARY_PATH (repeatable) runs the same normrt binary with each library path: an A/B of two
builds of libnormrt_cuda.so in one process, each building its own engines. --rounds R times every variant and
peer R times in alternation (variants, then peers, R times) and reports each one's median over the rounds with its
spread (max / min): single timings of shapes under about 25 us moved 20-50% between runs of the same code on an
H100 (bench/results/2026-11-28-session18.md).

fp16: float16 tensors (the fp16 kernel, mma m16n8k16). tf32: float32 tensors in an engine built with --tf32 (the
TF32 kernel); PyTorch then runs with TF32 matmuls allowed. Prints one JSON line per measurement and a table of
TFLOPS (4 N H Lq Lk D flops) and ratios (> 1: normrt faster).
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# (N, L, H, D): SD-1.5 self-attention at latents 64x64, 32x32, 16x16 and 8x8 (8 heads of 40, 80, 160), ViT-B/16
# (197 tokens, 12 heads of 64) and a long 64-wide sequence.
SHAPES = [(1, 4096, 8, 40), (2, 4096, 8, 40), (8, 1024, 8, 40), (32, 1024, 8, 40), (8, 256, 8, 80),
          (8, 64, 8, 160), (32, 197, 12, 64), (4, 2048, 16, 64)]


def log(record):
    print(json.dumps(record), flush=True)


def write_model(path, n, l, h, d, elem):
    import onnx
    from onnx import TensorProto, helper

    dtype = TensorProto.FLOAT16 if elem == "fp16" else TensorProto.FLOAT
    dims = [n, l, h, d]
    inputs = [helper.make_tensor_value_info(name, dtype, dims) for name in ("q", "k", "v")]
    output = helper.make_tensor_value_info("y", dtype, dims)
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], domain="ai.normrt", scale=float(d) ** -0.5)
    graph = helper.make_graph([node], "attention", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.normrt", 1)])
    onnx.save(model, str(path))


def normrt_env(library_path=None):
    """normrt's own library path: a variant's, else NORMRT_LD_LIBRARY_PATH (bench/gpu.sh runs this script with
    PyTorch's library path and passes ours there), else this process's."""
    env = dict(os.environ)
    if library_path is not None:
        env["LD_LIBRARY_PATH"] = library_path
    elif "NORMRT_LD_LIBRARY_PATH" in env:
        env["LD_LIBRARY_PATH"] = env["NORMRT_LD_LIBRARY_PATH"]
    return env


def normrt_engine(args, work, shape, precision, variant, library_path):
    """Builds the one-node engine for `shape` with a variant's library and checks that it runs cuda_attention;
    returns the bench command."""
    n, l, h, d = shape
    elem = "fp16" if precision == "fp16" else "fp32"
    stem = work / f"attention-{variant}-{precision}-{n}x{l}x{h}x{d}"
    model, engine = stem.with_suffix(".onnx"), stem.with_suffix(".nrt")
    write_model(model, n, l, h, d, elem)
    build = [args.normrt, "build", str(model), "-o", str(engine), "--device", "cuda"]
    if precision == "tf32":
        build.append("--tf32")
    env = normrt_env(library_path)
    done = subprocess.run(build, capture_output=True, text=True, timeout=300, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"normrt build failed: {done.stderr.strip() or done.stdout.strip()}")
    dims = f"{n}x{l}x{h}x{d}"
    bench = [args.normrt, "bench", str(engine), f"--shapes=q:{dims},k:{dims},v:{dims}"]
    # --profile runs eagerly with events around each node: only to check which kernel ran, never for the time.
    done = subprocess.run(bench + ["--iterations", "3", "--profile"], capture_output=True, text=True, timeout=300,
                          env=env)
    if done.returncode != 0 or "cuda_attention" not in done.stdout:
        raise RuntimeError("the engine did not run its Attention node on cuda_attention:\n" + done.stdout + done.stderr)
    return bench


def normrt_ms(args, bench, library_path):
    """The median ms of `normrt bench` (device events around each CUDA-graph replay)."""
    done = subprocess.run(bench + ["--iterations", str(args.iterations), "--warmup", "20", "--json"],
                          capture_output=True, text=True, timeout=300, env=normrt_env(library_path))
    if done.returncode != 0:
        raise RuntimeError(f"normrt bench failed: {done.stderr.strip() or done.stdout.strip()}")
    for line in done.stdout.splitlines():
        if line.startswith("{") and "median_ms" in line:
            return json.loads(line)["median_ms"]
    raise RuntimeError("no median in normrt bench output:\n" + done.stdout)


def median(values):
    values = sorted(v for v in values if v)
    return values[len(values) // 2] if values else None


def spread(values):
    values = [v for v in values if v]
    return max(values) / min(values) if values else None


def torch_ms(torch, fn, iterations):
    """Median ms of one graph replay of fn, each replay timed alone with CUDA events."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    for _ in range(20):
        graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def torch_peers(torch, shape, precision, iterations):
    import torch.nn.functional as F

    n, l, h, d = shape
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    dtype = torch.float16 if precision == "fp16" else torch.float32
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(n, l, h, d, device="cuda", dtype=dtype, generator=gen) for _ in range(3))
    scale = d ** -0.5
    out = {}

    def sdpa():
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))

    def explicit():
        s = torch.matmul(q.transpose(1, 2), k.permute(0, 2, 3, 1)) * scale
        return torch.matmul(s.softmax(-1), v.transpose(1, 2)).transpose(1, 2).contiguous()

    for name, fn in (("sdpa", sdpa), ("explicit", explicit)):
        try:
            out[name] = torch_ms(torch, fn, iterations)
        except RuntimeError as e:  # out of memory for the explicit scores, say
            out[name] = None
            log({"peer": name, "shape": list(shape), "precision": precision, "error": str(e)[:300]})
        torch.cuda.empty_cache()
    return out


def parse_variants(specs):
    """[(name, library path or None)] from NAME=LD_LIBRARY_PATH specs; one unnamed variant without any."""
    if not specs:
        return [("normrt", None)]
    variants = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
            raise SystemExit(f"--variant {spec!r}: expected NAME=LD_LIBRARY_PATH with a plain NAME (main=/path:/path)")
        if name in (v[0] for v in variants):
            raise SystemExit(f"--variant {name!r} given twice")
        variants.append((name, path))
    return variants


def table(gpu, torch_version, rows, variants, rounds):
    names = [name for name, _ in variants]
    first = names[0]
    fmt = lambda v: f"{v:.4f}" if v else "-"
    ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"
    header = ["precision", "N x L x H x D"]
    for name in names:
        header += [f"{name} ms", f"{name} TFLOPS"]
    header += ["sdpa ms", "explicit ms"]
    header += [f"sdpa / {name}" for name in names] + [f"explicit / {name}" for name in names]
    header += [f"{first} / {name}" for name in names[1:]]
    if rounds > 1:
        header += [f"{name} spread" for name in names] + ["sdpa spread"]
    lines = [f"{gpu}, torch {torch_version}; TFLOPS = 4 N H L^2 D / time; ratios are PyTorch ms / normrt ms"
             + (f"; medians of {rounds} rounds, spread = max / min over them" if rounds > 1 else ""),
             "| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for r in rows:
        ms = {name: median(r["normrt_ms"].get(name, [])) for name in names}
        sdpa, explicit = median(r["sdpa_ms"]), median(r["explicit_ms"])
        cells = [r["precision"], "x".join(map(str, r["shape"]))]
        for name in names:
            cells += [fmt(ms[name]), f"{r['gflop'] / ms[name]:.0f}" if ms[name] else "-"]
        cells += [fmt(sdpa), fmt(explicit)]
        cells += [ratio(sdpa, ms[name]) for name in names] + [ratio(explicit, ms[name]) for name in names]
        cells += [ratio(ms[first], ms[name]) for name in names[1:]]
        if rounds > 1:
            spreads = [spread(r["normrt_ms"].get(name, [])) for name in names] + [spread(r["sdpa_ms"])]
            cells += [f"{x:.2f}" if x else "-" for x in spreads]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--normrt", required=True)
    parser.add_argument("--out", default="out/attention")
    parser.add_argument("--precisions", nargs="+", default=["fp16", "tf32"], choices=["fp16", "tf32"])
    parser.add_argument("--shapes", nargs="+", help="N:L:H:D (replaces the default shapes)")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="time every variant and peer this many times")
    parser.add_argument("--variant", action="append", metavar="NAME=LD_LIBRARY_PATH",
                        help="a normrt library path to compare (repeatable; the first is the baseline)")
    args = parser.parse_args()
    if args.rounds < 1 or args.iterations < 1:
        raise SystemExit("--rounds and --iterations must be at least 1")
    variants = parse_variants(args.variant)
    shapes = [tuple(int(x) for x in s.split(":")) for s in args.shapes] if args.shapes else SHAPES
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    import torch

    gpu = torch.cuda.get_device_name()
    log({"gpu": gpu, "torch": torch.__version__, "command": " ".join(sys.argv)})
    rows = []
    for precision in args.precisions:
        for shape in shapes:
            n, l, h, d = shape
            gflop = 4.0 * n * h * l * l * d / 1e9
            record = {"shape": list(shape), "precision": precision, "gflop": gflop, "normrt_ms": {},
                      "sdpa_ms": [], "explicit_ms": []}
            benches = {}
            for name, path in variants:
                try:
                    benches[name] = normrt_engine(args, work, shape, precision, name, path)
                    record["normrt_ms"][name] = []
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    record.setdefault("normrt_error", {})[name] = str(e)[:500]
            for _ in range(args.rounds):
                for name, path in variants:
                    if name not in benches:
                        continue
                    try:
                        record["normrt_ms"][name].append(normrt_ms(args, benches[name], path))
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        record.setdefault("normrt_error", {})[name] = str(e)[:500]
                peers = torch_peers(torch, shape, precision, args.iterations)
                record["sdpa_ms"].append(peers.get("sdpa"))
                record["explicit_ms"].append(peers.get("explicit"))
            log(record)
            rows.append(record)
    text = table(gpu, torch.__version__, rows, variants, args.rounds)
    (work / "attention.md").write_text(text + "\n")
    print(text)
    return 0 if all("normrt_error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
