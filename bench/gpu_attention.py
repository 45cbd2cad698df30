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
        [--shapes 8:1024:8:40 ...] [--iterations 200]

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


def normrt_env():
    """normrt's own library path (bench/gpu.sh runs this script with PyTorch's, and passes ours here)."""
    env = dict(os.environ)
    if "NORMRT_LD_LIBRARY_PATH" in env:
        env["LD_LIBRARY_PATH"] = env["NORMRT_LD_LIBRARY_PATH"]
    return env


def normrt_ms(args, work, shape, precision):
    n, l, h, d = shape
    elem = "fp16" if precision == "fp16" else "fp32"
    stem = work / f"attention-{precision}-{n}x{l}x{h}x{d}"
    model, engine = stem.with_suffix(".onnx"), stem.with_suffix(".nrt")
    write_model(model, n, l, h, d, elem)
    build = [args.normrt, "build", str(model), "-o", str(engine), "--device", "cuda"]
    if precision == "tf32":
        build.append("--tf32")
    done = subprocess.run(build, capture_output=True, text=True, timeout=300, env=normrt_env())
    if done.returncode != 0:
        raise RuntimeError(f"normrt build failed: {done.stderr.strip() or done.stdout.strip()}")
    dims = f"{n}x{l}x{h}x{d}"
    bench = [args.normrt, "bench", str(engine), f"--shapes=q:{dims},k:{dims},v:{dims}"]
    # --profile runs eagerly with events around each node: only to check which kernel ran, never for the time.
    done = subprocess.run(bench + ["--iterations", "3", "--profile"], capture_output=True, text=True, timeout=300,
                          env=normrt_env())
    if done.returncode != 0 or "cuda_attention" not in done.stdout:
        raise RuntimeError("the engine did not run its Attention node on cuda_attention:\n" + done.stdout + done.stderr)
    done = subprocess.run(bench + ["--iterations", str(args.iterations), "--warmup", "20", "--json"],
                          capture_output=True, text=True, timeout=300, env=normrt_env())
    if done.returncode != 0:
        raise RuntimeError(f"normrt bench failed: {done.stderr.strip() or done.stdout.strip()}")
    for line in done.stdout.splitlines():
        if line.startswith("{") and "median_ms" in line:
            return json.loads(line)["median_ms"]
    raise RuntimeError("no median in normrt bench output:\n" + done.stdout)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--normrt", required=True)
    parser.add_argument("--out", default="out/attention")
    parser.add_argument("--precisions", nargs="+", default=["fp16", "tf32"], choices=["fp16", "tf32"])
    parser.add_argument("--shapes", nargs="+", help="N:L:H:D (replaces the default shapes)")
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
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
            record = {"shape": list(shape), "precision": precision, "gflop": gflop}
            try:
                record["normrt_ms"] = normrt_ms(args, work, shape, precision)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                record["normrt_error"] = str(e)[:500]
            record.update({f"{k}_ms": v for k, v in torch_peers(torch, shape, precision, args.iterations).items()})
            log(record)
            rows.append(record)
    lines = [f"{gpu}, torch {torch.__version__}; TFLOPS = 4 N H L^2 D / time; ratios are PyTorch ms / normrt ms",
             "| precision | N x L x H x D | normrt ms | TFLOPS | sdpa ms | explicit ms | sdpa / normrt | explicit / normrt |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        nm, sm, em = r.get("normrt_ms"), r.get("sdpa_ms"), r.get("explicit_ms")
        fmt = lambda v: f"{v:.4f}" if v else "-"
        ratio = lambda peer: f"{peer / nm:.2f}x" if peer and nm else "-"
        tflops = f"{r['gflop'] / nm:.0f}" if nm else "-"
        lines.append(f"| {r['precision']} | {'x'.join(map(str, r['shape']))} | {fmt(nm)} | {tflops} | {fmt(sm)} | "
                     f"{fmt(em)} | {ratio(sm)} | {ratio(em)} |")
    table = "\n".join(lines)
    (work / "attention.md").write_text(table + "\n")
    print(table)
    return 0 if all("normrt_ms" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
