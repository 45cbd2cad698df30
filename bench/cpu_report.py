#!/usr/bin/env python3
"""Turns the JSON lines of bench/cpu.sh into a markdown table of medians and ratios."""
import json
import platform
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
command = sys.argv[2]
table = {}
for r in rows:
    table.setdefault((r["model"], r["batch"]), {})[r["runtime"]] = r["median_ms"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print("# CPU latency: normrt vs ONNX Runtime and PyTorch\n")
print(f"Command: `{command}` — 2 threads each, median of repeated runs (ms), opset-17 fixture models.")
print(f"Machine: {cpu}. Ratio = peer / normrt (> 1 means normrt is faster).\n")
print("| model | batch | normrt ms | ONNX Runtime ms | PyTorch ms | ORT / normrt | PyTorch / normrt |")
print("|---|---|---|---|---|---|---|")
for (model, batch), v in sorted(table.items()):
    n, o, p = v.get("normrt"), v.get("onnxruntime"), v.get("pytorch")
    f = lambda x: f"{x:.3f}" if x is not None else "-"
    ratio = lambda peer: f"{peer / n:.2f}" if peer and n else "-"
    print(f"| {model} | {batch} | {f(n)} | {f(o)} | {f(p)} | {ratio(o)} | {ratio(p)} |")
