#!/usr/bin/env python3
"""Whole networks on the GPU: normrt engines against PyTorch on the same GPU in the same run.

Models (built in PyTorch, exported to ONNX opset 17 with a dynamic batch):
  resnet50_gn  torchvision's resnet50(norm_layer=lambda c: nn.GroupNorm(32, c)), input images [N, 3, 224, 224]
               (without torchvision, e.g. on a build machine, an identical local definition is used).
  unet_sd15    a diffusion UNet block stack at SD-1.5 channel widths (320 / 640 / 1280), input latent
               [N, 4, S, S] (S = --unet-latent, 32 by default: a 256x256 image's latent, which keeps the
               explicit [N, 8, S*S, S*S] attention scores of batch 32 within memory). Blocks:
                 conv_in 4->320
                 down  (Res 320->320, Attn 320) Downsample  (Res 320->640, Attn 640) Downsample
                       (Res 640->1280, Attn 1280)
                 mid   Res 1280, Attn 1280, Res 1280
                 up    (Res 1280+1280->1280, Attn 1280) Upsample  (Res 1280+640->640, Attn 640) Upsample
                       (Res 640+320->320, Attn 320)        (skip connections concatenated, as in SD)
                 out   GroupNorm(32) + SiLU, conv_out 320->4
               Res: GroupNorm(32)+SiLU, conv3x3, GroupNorm(32)+SiLU, conv3x3, plus a 1x1 skip conv when the
               width changes. Attn (SD's Transformer2D without cross-attention): GroupNorm(32, eps 1e-6),
               1x1 proj_in, tokens [N, HW, C], x + SelfAttention(LayerNorm(x)) with 8 heads written out as
               MatMul / Softmax / MatMul, x + FF(LayerNorm(x)) with FF = Linear(C, 4C) GELU Linear(4C, C), 1x1
               proj_out, plus the block input. Downsample: conv3x3 stride 2; Upsample: nearest x2 then conv3x3.
               No timestep embedding and no text conditioning (one input, one output).

For each model and precision (fp32, tf32, fp16) and each normrt --layout in --layouts:
  normrt   `normrt build --device cuda [--fp16 | --tf32] [--layout L]` with one profile (batch 1 .. --max-batch, opt --opt-batch), then
           `normrt bench --json` at each batch (device-event latency), and `normrt run` on a fixed input whose
           output is compared with PyTorch's fp32 output (max abs error, and that error over max |ref|).
  PyTorch  eager replayed as a CUDA graph (torch.cuda.CUDAGraph; each replay timed alone with CUDA events,
           median), and torch.compile (--compile-mode, per-call timing, and replayed as a CUDA graph when the
           compiled callable captures). fp16 is model.half() on fp16 inputs; fp32 runs with TF32 off and
           tf32 with TF32 on for convolutions and matmuls (like for like; --torch-tf32 overrides; recorded in every
           line); each memory format in --torch-layouts (the ratio takes the faster).
Every stage runs with a timeout (PyTorch stages in a child process of their own, killed with their process
group); a failure or timeout is recorded and the rest goes on. One JSON line per measurement goes to
OUT/networks.jsonl, and the table of milliseconds and ratios (PyTorch / normrt: > 1 means normrt is faster; also
normrt's build seconds and the first run at each batch in a fresh process, from `bench`'s cold start) is
printed last and written to OUT/networks.md.

On the GPU machine (python3 with torch, torchvision and onnx; normrt's CLI and libraries carried):
    LD_LIBRARY_PATH=$BIN:/usr/lib/x86_64-linux-gnu:/usr/local/cuda-13.0/targets/x86_64-linux/lib \\
        python3 bench/gpu_networks.py --normrt $BIN/normrt --out $OUT/networks
Without a GPU (checks the export, the CPU build and the accuracy plumbing; small widths):
    python3 bench/gpu_networks.py --normrt build/normrt --out out/networks-cpu --device cpu \\
        --batches 1 2 --max-batch 2 --opt-batch 2 --precisions fp32 --unet-widths 32 64 128 --no-compile
"""
import argparse
import inspect
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("resnet50_gn", "unet_sd15")
RESULT_PREFIX = "@@RESULT "


# ---------------------------------------------------------------------------------------------------------
# Models (imported lazily: the parent process never initializes CUDA, so normrt has the GPU to itself)

def define_unet(torch, widths, heads=8):
    nn = torch.nn
    F = torch.nn.functional

    def group_norm(c, eps=1e-5):
        return nn.GroupNorm(32, c, eps=eps)

    class ResBlock(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.norm1, self.conv1 = group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
            self.norm2, self.conv2 = group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x):
            h = self.conv1(F.silu(self.norm1(x)))
            h = self.conv2(F.silu(self.norm2(h)))
            return self.skip(x) + h

    class SelfAttention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.heads, self.head_dim = heads, c // heads
            self.q, self.k, self.v = (nn.Linear(c, c, bias=False) for _ in range(3))
            self.out = nn.Linear(c, c)

        def split(self, t):  # [N, L, C] -> [N, heads, L, d]
            return t.reshape(t.shape[0], -1, self.heads, self.head_dim).transpose(1, 2)

        def forward(self, x):
            q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
            scores = torch.matmul(q, k.transpose(-1, -2)) * (self.head_dim ** -0.5)
            o = torch.matmul(scores.softmax(dim=-1), v)
            return self.out(o.transpose(1, 2).reshape(x.shape[0], -1, self.heads * self.head_dim))

    class AttnBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm = group_norm(c, eps=1e-6)
            self.proj_in, self.proj_out = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)
            self.ln1, self.attn = nn.LayerNorm(c), SelfAttention(c)
            self.ln2 = nn.LayerNorm(c)
            self.ff = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))

        def forward(self, x):
            h = self.proj_in(self.norm(x))
            shape = h.shape
            t = h.flatten(2).transpose(1, 2)  # [N, HW, C]
            t = t + self.attn(self.ln1(t))
            t = t + self.ff(self.ln2(t))
            h = t.transpose(1, 2).reshape(shape)
            return x + self.proj_out(h)

    class Downsample(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

        def forward(self, x):
            return self.conv(x)

    class Upsample(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))

    class UNetBlocks(nn.Module):
        def __init__(self):
            super().__init__()
            c1, c2, c3 = widths
            self.conv_in = nn.Conv2d(4, c1, 3, padding=1)
            self.down1 = nn.Sequential(ResBlock(c1, c1), AttnBlock(c1))
            self.pool1 = Downsample(c1)
            self.down2 = nn.Sequential(ResBlock(c1, c2), AttnBlock(c2))
            self.pool2 = Downsample(c2)
            self.down3 = nn.Sequential(ResBlock(c2, c3), AttnBlock(c3))
            self.mid = nn.Sequential(ResBlock(c3, c3), AttnBlock(c3), ResBlock(c3, c3))
            self.up3 = nn.Sequential(ResBlock(c3 + c3, c3), AttnBlock(c3))
            self.unpool2 = Upsample(c3)
            self.up2 = nn.Sequential(ResBlock(c3 + c2, c2), AttnBlock(c2))
            self.unpool1 = Upsample(c2)
            self.up1 = nn.Sequential(ResBlock(c2 + c1, c1), AttnBlock(c1))
            self.norm_out = group_norm(c1)
            self.conv_out = nn.Conv2d(c1, 4, 3, padding=1)

        def forward(self, x):
            h = self.conv_in(x)
            s1 = self.down1(h)
            s2 = self.down2(self.pool1(s1))
            s3 = self.down3(self.pool2(s2))
            h = self.mid(s3)
            h = self.unpool2(self.up3(torch.cat([h, s3], dim=1)))
            h = self.unpool1(self.up2(torch.cat([h, s2], dim=1)))
            h = self.up1(torch.cat([h, s1], dim=1))
            return self.conv_out(F.silu(self.norm_out(h)))

    return UNetBlocks()


def define_resnet50_gn(torch):
    """torchvision's resnet50 with GroupNorm(32); an identical local definition where torchvision is missing."""
    nn = torch.nn
    try:
        import torchvision

        return torchvision.models.resnet50(norm_layer=lambda c: nn.GroupNorm(32, c)), "torchvision"
    except ImportError:
        pass

    class Bottleneck(nn.Module):  # torchvision's v1.5: the stride sits on the 3x3 conv
        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.GroupNorm(32, width)
            self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.GroupNorm(32, width)
            self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.GroupNorm(32, cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                                nn.GroupNorm(32, cout))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1, self.relu = nn.GroupNorm(32, 64), nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            layers, cin = [], 64
            for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                stage = []
                for b in range(blocks):
                    stage.append(Bottleneck(cin, width, stride if b == 0 else 1))
                    cin = width * 4
                layers.append(nn.Sequential(*stage))
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(2048, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet50(), "local definition (torchvision not installed)"


def build_model(torch, spec):
    """The model in eval mode with seeded weights; normalization affines perturbed so that the checks see them."""
    torch.manual_seed(spec["seed"])
    if spec["model"] == "resnet50_gn":
        model, source = define_resnet50_gn(torch)
    else:
        model, source = define_unet(torch, spec["unet_widths"]), "bench/gpu_networks.py"
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm)) and m.weight is not None:
                m.weight.copy_(1 + 0.1 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
    return model.eval(), source


def input_spec(spec):
    """(input name, per-sample shape)."""
    if spec["model"] == "resnet50_gn":
        return "images", [3, 224, 224]
    s = spec["unet_latent"]
    return "latent", [4, s, s]


# ---------------------------------------------------------------------------------------------------------
# Child stages (python3 gpu_networks.py --child STAGE --spec JSON): print @@RESULT lines

def emit(record):
    print(RESULT_PREFIX + json.dumps(record), flush=True)


def child_info(spec):
    import torch

    record = {"stage": "info", "torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        record.update(gpu=p.name, sms=p.multi_processor_count, memory_gib=round(p.total_memory / 2**30, 1),
                      cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    try:
        import onnx

        record["onnx"] = onnx.__version__
    except ImportError:
        record["onnx"] = None
    emit(record)


def child_export(spec):
    import numpy as np
    import torch

    t0 = time.time()
    model, source = build_model(torch, spec)
    out = Path(spec["dir"])
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / "weights.pt")
    name, sample = input_spec(spec)
    example = torch.randn([spec["export_batch"]] + sample)
    path = out / "model.onnx"
    params = sum(p.numel() for p in model.parameters())
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    attempts = []
    if spec["exporter"] in ("auto", "torchscript"):
        attempts.append("torchscript")
    if spec["exporter"] in ("auto", "dynamo") and has_dynamo:
        attempts.append("dynamo")
    used, errors = None, []
    for exporter in attempts:
        try:
            kwargs = dict(input_names=[name], output_names=["output"], opset_version=17)
            if exporter == "torchscript":
                kwargs["dynamic_axes"] = {name: {0: "batch"}, "output": {0: "batch"}}
                if has_dynamo:
                    kwargs["dynamo"] = False
            else:
                kwargs["dynamo"] = True
                kwargs["dynamic_shapes"] = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}}
            with torch.no_grad():
                torch.onnx.export(model, (example,), str(path), **kwargs)
            used = exporter
            break
        except Exception as e:  # noqa: BLE001 - every exporter failure is reported, the next one tried
            errors.append(f"{exporter}: {type(e).__name__}: {str(e)[:500]}")
    if used is None:
        raise RuntimeError("every exporter failed: " + " | ".join(errors))
    checked = None
    try:
        import onnx

        onnx.checker.check_model(str(path))
        checked = True
    except Exception as e:  # noqa: BLE001
        checked = f"{type(e).__name__}: {str(e)[:300]}"

    # The fixed input and PyTorch's fp32 output (TF32 off: the reference every engine is checked against).
    g = torch.Generator().manual_seed(spec["seed"] + 1)
    x = torch.randn([spec["check_batch"]] + sample, generator=g)
    np.save(out / "check_input.npy", x.numpy())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        ref = model.to(device)(x.to(device)).float().cpu().numpy()
    np.save(out / "check_reference.npy", ref)
    emit({"stage": "export", "ok": True, "exporter": used, "exporter_errors": errors, "onnx_checker": checked,
          "model_source": source, "parameters": params, "onnx_bytes": path.stat().st_size,
          "input": name, "sample_shape": sample, "reference_device": device, "seconds": round(time.time() - t0, 1)})


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def time_callable(torch, fn, iterations, warmup, use_graph):
    """(median ms, p90 ms, how): each call or graph replay timed alone with CUDA events (wall clock on CPU)."""
    if not torch.cuda.is_available():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(iterations):
            t = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - t))
        return percentile(times, 0.5), percentile(times, 0.9), "cpu wall clock"
    if use_graph:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(max(3, warmup)):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        run = graph.replay
    else:
        run = fn
    for _ in range(warmup):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return percentile(times, 0.5), percentile(times, 0.9), "cuda graph replay" if use_graph else "per call"


def child_torch(spec):
    import numpy as np
    import torch

    out = Path(spec["dir"])
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    tf32 = spec["tf32"]
    if tf32 == "auto":  # like for like: strict fp32 against normrt's fp32, TF32 against its --tf32
        tf32 = "on" if spec["precision"] == "tf32" else "off"
    if tf32 != "default":
        torch.backends.cudnn.allow_tf32 = tf32 == "on"
        torch.backends.cuda.matmul.allow_tf32 = tf32 == "on"
    torch.backends.cudnn.benchmark = True
    settings = {"tf32_conv": torch.backends.cudnn.allow_tf32, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                "channels_last": spec["channels_last"]}
    model, _ = build_model(torch, spec)
    model.load_state_dict(torch.load(out / "weights.pt"))
    dtype = torch.float16 if spec["precision"] == "fp16" else torch.float32
    model = model.to(device=device, dtype=dtype)
    memory_format = torch.channels_last if spec["channels_last"] else torch.contiguous_format
    if spec["channels_last"]:
        model = model.to(memory_format=memory_format)
    mode = spec["mode"]
    base = {"stage": "torch", "model": spec["model"], "precision": spec["precision"], "mode": mode, **settings}
    if mode == "compile":
        torch._dynamo.config.cache_size_limit = 64
        if hasattr(torch._dynamo.config, "automatic_dynamic_shapes"):  # one static graph per batch, as normrt's
            torch._dynamo.config.automatic_dynamic_shapes = False
        fn_model = torch.compile(model, mode=spec["compile_mode"])
        base["compile_mode"] = spec["compile_mode"]
    else:
        fn_model = model

    # Accuracy of PyTorch itself at this precision against the fp32 reference, for context (eager only: the
    # compiled model would compile once more for the check's batch).
    if mode != "compile":
        try:
            x = torch.from_numpy(np.load(out / "check_input.npy")).to(device=device, dtype=dtype)
            x = x.contiguous(memory_format=memory_format)
            with torch.no_grad():
                y = fn_model(x).float().cpu().numpy()
            ref = np.load(out / "check_reference.npy")
            err = float(np.max(np.abs(y - ref)))
            emit({**base, "kind": "accuracy", "max_abs_err": err,
                  "rel_err": err / max(float(np.max(np.abs(ref))), 1e-30)})
        except Exception as e:  # noqa: BLE001
            emit({**base, "kind": "accuracy", "error": f"{type(e).__name__}: {str(e)[:500]}"})

    name, sample = input_spec(spec)
    for batch in spec["batches"]:
        record = {**base, "kind": "latency", "batch": batch}
        x = None
        try:
            x = torch.randn([batch] + sample, device=device, dtype=dtype).contiguous(memory_format=memory_format)
            t0 = time.time()
            with torch.no_grad():
                fn_model(x)  # compiles (torch.compile) or picks cuDNN algorithms
                if cuda:
                    torch.cuda.synchronize()
                record["first_call_s"] = round(time.time() - t0, 2)

                def call():
                    return fn_model(x)

                graph_wanted = mode == "graph" or (mode == "compile" and cuda)
                if mode == "compile":  # per call, without a graph: what torch.compile gives by itself
                    med, p90, how = time_callable(torch, call, spec["iterations"], spec["warmup"], False)
                    record.update(median_ms=med, p90_ms=p90, timing=how)
                if graph_wanted:
                    try:
                        med, p90, how = time_callable(torch, call, spec["iterations"], spec["warmup"], cuda)
                        key = "median_ms" if mode == "graph" else "graph_median_ms"
                        record.update({key: med, ("p90_ms" if mode == "graph" else "graph_p90_ms"): p90})
                        if mode == "graph":
                            record["timing"] = how
                    except Exception as e:  # noqa: BLE001 - a compiled callable may refuse capture
                        record["graph_error"] = f"{type(e).__name__}: {str(e)[:300]}"
                        if mode == "graph":
                            raise
        except Exception as e:  # noqa: BLE001
            record["error"] = f"{type(e).__name__}: {str(e)[:500]}"
        emit(record)
        del x
        if cuda:
            torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------------------
# The parent: stages with timeouts, results, table

class Runner:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.jsonl = open(self.out / "networks.jsonl", "a")
        self.records = []
        self.start = time.time()
        self.log = open(self.out / "networks.log", "a")

    def remaining(self):
        return self.args.deadline_s - (time.time() - self.start) if self.args.deadline_s else math.inf

    def record(self, rec):
        rec = {"t_s": round(time.time() - self.start, 1), **rec}
        self.records.append(rec)
        self.jsonl.write(json.dumps(rec) + "\n")
        self.jsonl.flush()
        short = {k: v for k, v in rec.items() if k not in ("stdout_tail", "exporter_errors")}
        print(json.dumps(short), flush=True)

    def run(self, cmd, timeout, what, env=None):
        """(returncode or None on timeout/skip, stdout+stderr text, seconds). Kills the whole process group."""
        budget = min(timeout, self.remaining())
        if budget < 5:
            return None, f"skipped: the --deadline-s budget is spent ({what})", 0.0
        self.log.write(f"\n$ {' '.join(shlex.quote(str(c)) for c in cmd)}\n")
        self.log.flush()
        t0 = time.time()
        try:
            proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True, text=True, errors="replace", env=env)
        except OSError as e:
            self.log.write(f"cannot start: {e}\n")
            return 127, f"cannot start {cmd[0]}: {e}", 0.0
        try:
            text, _ = proc.communicate(timeout=budget)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            text, _ = proc.communicate()
            text = (text or "") + f"\n[timed out after {budget:.0f} s: {what}]"
            code = None
        self.log.write(text)
        self.log.flush()
        return code, text, time.time() - t0

    def child(self, stage, spec, timeout):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", stage, "--spec", json.dumps(spec)]
        # PyTorch runs with the library path the machine had before bench/gpu.sh put normrt's (and the system
        # cuDNN) first: otherwise it loads that cuDNN instead of the one it ships and is built against.
        env = os.environ.copy()
        if "NORMRT_TORCH_LD_LIBRARY_PATH" in env:
            env["LD_LIBRARY_PATH"] = env["NORMRT_TORCH_LD_LIBRARY_PATH"]
        code, text, seconds = self.run(cmd, timeout, f"{stage} {spec.get('model', '')} {spec.get('precision', '')}",
                                       env=env)
        results = [json.loads(line[len(RESULT_PREFIX):]) for line in text.splitlines() if line.startswith(RESULT_PREFIX)]
        failure = None
        if code != 0:
            failure = "timeout or skipped" if code is None else f"exit code {code}"
        return results, failure, tail(text), seconds


def tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


def shape_flag(name, batch, sample):
    return f"{name}:" + "x".join(str(d) for d in [batch] + sample)


def fp16_flags(runner):
    """--fp16 where the CLI has it (issue 4's spelling), else --precision float16."""
    code, text, _ = runner.run([runner.args.normrt, "build", "--help"], 30, "normrt build --help")
    if code == 0 and "--fp16" in text:
        return ["--fp16"]
    return ["--precision", "float16"]


def parse_bench(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and "median_ms" in line:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                pass
    m = re.search(r"median ([0-9.]+) ms", text)
    return {"median_ms": float(m.group(1))} if m else None


def normrt_stages(runner, spec, precision, export, fp16_flag, layout):
    args = runner.args
    name, sample = export["input"], export["sample_shape"]
    model_dir = Path(spec["dir"])
    engine = model_dir / f"{precision}-{layout}.nrt"
    base = {"stage": "normrt", "model": spec["model"], "precision": precision, "device": args.device, "layout": layout}
    cmd = [args.normrt, "build", model_dir / "model.onnx", "-o", engine, "--device", args.device,
           f"--minShapes={shape_flag(name, 1, sample)}", f"--optShapes={shape_flag(name, args.opt_batch, sample)}",
           f"--maxShapes={shape_flag(name, args.max_batch, sample)}"]
    if layout != "default":
        cmd += ["--layout", layout]
    if precision == "fp16":
        cmd += fp16_flag
    elif precision == "tf32":
        cmd += ["--tf32"]
    if args.timing_cache:
        cmd += ["--timing-cache", args.timing_cache]
    code, text, seconds = runner.run(cmd, args.build_timeout, f"normrt build {spec['model']} {precision}")
    runner.record({**base, "kind": "build", "ok": code == 0, "seconds": round(seconds, 1),
                   "command": " ".join(shlex.quote(str(c)) for c in cmd), "stdout_tail": tail(text)})
    if code != 0:
        return

    for batch in args.batches:
        cmd = [args.normrt, "bench", engine, f"--shapes={shape_flag(name, batch, sample)}",
               "--iterations", args.iterations, "--warmup", args.warmup, "--json"]
        code, text, seconds = runner.run(cmd, args.bench_timeout, f"normrt bench {spec['model']} {precision} b{batch}")
        parsed = parse_bench(text) if code == 0 else None
        rec = {**base, "kind": "latency", "batch": batch}
        if parsed:
            rec.update({k: v for k, v in parsed.items() if k != "engine"})
        else:
            rec.update(error="exit code %s" % code, stdout_tail=tail(text))
        runner.record(rec)

    # Accuracy: normrt run on the fixed input against PyTorch's fp32 output.
    out_dir = model_dir / f"{precision}-{layout}-run"
    cmd = [args.normrt, "run", engine, "--input", f"{name}={model_dir / 'check_input.npy'}", "--output-dir", out_dir]
    code, text, seconds = runner.run(cmd, args.bench_timeout, f"normrt run {spec['model']} {precision}")
    rec = {**base, "kind": "accuracy", "check_batch": args.check_batch}
    try:
        if code != 0:
            raise RuntimeError(f"normrt run: exit code {code}: {tail(text, 5)}")
        import numpy as np

        manifest = json.load(open(out_dir / "manifest.json"))
        got = np.load(out_dir / manifest["outputs"][0]["file"]).astype(np.float64)
        ref = np.load(model_dir / "check_reference.npy").astype(np.float64)
        if got.shape != ref.shape:
            raise RuntimeError(f"output shape {got.shape} != PyTorch's {ref.shape}")
        err = float(np.max(np.abs(got - ref)))
        rec.update(max_abs_err=err, rel_err=err / max(float(np.max(np.abs(ref))), 1e-30),
                   finite=bool(np.all(np.isfinite(got))))
    except Exception as e:  # noqa: BLE001
        rec["error"] = f"{type(e).__name__}: {str(e)[:500]}"
    runner.record(rec)


def torch_stage(runner, spec, precision, mode, channels_last):
    args = runner.args
    child_spec = {**spec, "precision": precision, "mode": mode, "batches": args.batches,
                  "iterations": args.iterations, "warmup": args.warmup, "compile_mode": args.compile_mode,
                  "tf32": args.torch_tf32, "channels_last": channels_last}
    timeout = args.compile_timeout if mode == "compile" else args.torch_timeout
    results, failure, text, seconds = runner.child("torch", child_spec, timeout)
    for r in results:
        runner.record(r)
    if failure:
        runner.record({"stage": "torch", "model": spec["model"], "precision": precision, "mode": mode,
                       "kind": "failure", "error": failure, "seconds": round(seconds, 1), "stdout_tail": text})


def table(records):
    """Markdown: per model, precision and batch, ms of each runner and PyTorch / normrt."""
    def find(**kw):
        for r in records:
            if all(r.get(k) == v for k, v in kw.items()):
                return r
        return None

    lines = ["| model | prec | batch | normrt layout | normrt ms | eager+graph ms | eager+graph channels_last ms | "
             "compile ms | compile+graph ms | best graph/normrt | best compile/normrt | normrt err (rel) | "
             "normrt build s | normrt first run s |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    keys = sorted({(r["model"], r["precision"], r["batch"], r.get("layout", "default")) for r in records
                   if r.get("kind") == "latency" and "batch" in r and r.get("stage") == "normrt"})
    for model, precision, batch, layout in keys:
        n = find(stage="normrt", model=model, precision=precision, kind="latency", batch=batch, layout=layout) or {}
        g = find(stage="torch", mode="graph", model=model, precision=precision, kind="latency", batch=batch,
                 channels_last=False) or {}
        gl = find(stage="torch", mode="graph", model=model, precision=precision, kind="latency", batch=batch,
                  channels_last=True) or {}
        c = find(stage="torch", mode="compile", model=model, precision=precision, kind="latency", batch=batch) or {}
        acc = find(stage="normrt", model=model, precision=precision, kind="accuracy", layout=layout) or {}
        build = find(stage="normrt", model=model, precision=precision, kind="build", layout=layout) or {}
        # The first run at this batch in a fresh process (bench's cold start): planning and library set-up.
        first = n.get("first_run_ms")
        nm = n.get("median_ms")
        gm = min([v for v in (g.get("median_ms"), gl.get("median_ms")) if v], default=None)
        cm, cgm = c.get("median_ms"), c.get("graph_median_ms")
        best_c = min([v for v in (cm, cgm) if v], default=None)

        def ms(v):
            return f"{v:.3f}" if isinstance(v, (int, float)) else "-"

        def ratio(a, b):
            return f"{a / b:.2f}x" if a and b else "-"

        err = (f"{acc['max_abs_err']:.2e} ({acc['rel_err']:.1e})" if "max_abs_err" in acc else
               ("error" if acc.get("error") else "-"))
        lines.append(f"| {model} | {precision} | {batch} | {layout} | {ms(nm)} | {ms(g.get('median_ms'))} | "
                     f"{ms(gl.get('median_ms'))} | {ms(cm)} | {ms(cgm)} | {ratio(gm, nm)} | {ratio(best_c, nm)} | {err} | "
                     f"{build.get('seconds', '-') if build.get('ok') else '-'} | "
                     f"{f'{first / 1000:.2f}' if isinstance(first, (int, float)) else '-'} |")
    return "\n".join(lines)


def main_parent(args):
    runner = Runner(args)
    if not args.table_only:
        results, failure, text, _ = runner.child("info", {}, 120)
        for r in results:
            runner.record({**r, "command": " ".join(sys.argv)})
        if failure:
            runner.record({"stage": "info", "error": failure, "stdout_tail": text})
        fp16_flag = fp16_flags(runner) if "fp16" in args.precisions and not args.skip_normrt else []
        exports = {}
        for model in args.models:
            spec = {"model": model, "dir": str(runner.out / model), "seed": args.seed, "unet_widths": args.unet_widths,
                    "unet_latent": args.unet_latent, "check_batch": args.check_batch, "export_batch": 2,
                    "exporter": args.exporter}
            results, failure, text, seconds = runner.child("export", spec, args.export_timeout)
            for r in results:
                runner.record({**r, "model": model})
            export = next((r for r in results if r.get("stage") == "export" and r.get("ok")), None)
            if failure or not export:
                runner.record({"stage": "export", "model": model, "ok": False, "error": failure or "no result",
                               "seconds": round(seconds, 1), "stdout_tail": text})
                continue
            exports[model] = (spec, export)
            for precision in args.precisions:
                if not args.skip_normrt:
                    for layout in args.layouts:
                        normrt_stages(runner, spec, precision, export, fp16_flag, layout)
                if not args.skip_torch:
                    for channels_last in sorted(set(args.torch_layouts)):
                        torch_stage(runner, spec, precision, "graph", channels_last == "channels_last")
        if args.compile_mode != "off" and not args.skip_torch:
            for model, (spec, _) in exports.items():
                for precision in args.precisions:
                    torch_stage(runner, spec, precision, "compile", "channels_last" in args.torch_layouts)
        records = runner.records
    else:
        records = [json.loads(line) for line in open(runner.out / "networks.jsonl") if line.strip()]
    text = table(records)
    (runner.out / "networks.md").write_text(text + "\n")
    info = next((r for r in records if r.get("stage") == "info" and "torch" in r), {})
    print(f"\n{info.get('gpu', 'no GPU')}, torch {info.get('torch', '?')}; ratios are PyTorch ms / normrt ms "
          f"(> 1: normrt faster); err: normrt vs PyTorch fp32, max abs (relative to max |ref|)")
    print(text)
    failures = [r for r in records if r.get("error") or r.get("ok") is False]
    print(f"\n{len(failures)} failed stage(s); details in {runner.out / 'networks.jsonl'} and networks.log")
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--normrt", default="normrt", help="the normrt CLI (carried build)")
    p.add_argument("--out", default="out/networks", help="results folder (networks.jsonl, networks.md, models)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--precisions", nargs="+", default=["fp32", "fp16"], choices=["fp32", "tf32", "fp16"],
                   help="tf32: normrt --tf32 against PyTorch with TF32 on (fp32 storage both)")
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    p.add_argument("--max-batch", type=int, default=32, help="the profile's largest batch")
    p.add_argument("--opt-batch", type=int, default=8, help="the profile's opt batch (algorithm choice)")
    p.add_argument("--check-batch", type=int, default=2, help="batch of the accuracy check")
    p.add_argument("--device", default="cuda", help="normrt build --device (cpu: check the plumbing anywhere)")
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--unet-widths", nargs=3, type=int, default=[320, 640, 1280])
    p.add_argument("--unet-latent", type=int, default=32, help="latent side S (input [N, 4, S, S])")
    p.add_argument("--exporter", default="auto", choices=["auto", "torchscript", "dynamo"],
                   help="auto: the TorchScript exporter, else the dynamo one")
    p.add_argument("--compile-mode", default="default",
                   help="torch.compile mode (default, max-autotune-no-cudagraphs, ...) or off")
    p.add_argument("--no-compile", dest="compile_mode", action="store_const", const="off")
    p.add_argument("--torch-tf32", default="auto", choices=["auto", "default", "on", "off"],
                   help="PyTorch's TF32 for conv and matmul: auto (off for fp32, on for tf32: like for like), "
                        "default (PyTorch's own: conv on, matmul off), on or off")
    p.add_argument("--torch-layouts", nargs="+", default=["nchw"], choices=["nchw", "channels_last"],
                   help="PyTorch memory formats to time (eager+graph); the table's ratio takes the faster")
    p.add_argument("--layouts", nargs="+", default=["default"], choices=["default", "auto", "nchw", "nhwc"],
                   help="normrt build --layout values to time (default: no flag)")
    p.add_argument("--timing-cache", default="",
                   help="normrt build --timing-cache FILE: builds reuse its tuning choices (A/B of two normrt "
                        "builds on the same convolution and GEMM choices)")
    p.add_argument("--skip-normrt", action="store_true")
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deadline-s", type=float, default=0, help="stop starting stages after this many seconds (0: none)")
    p.add_argument("--export-timeout", type=float, default=300)
    p.add_argument("--build-timeout", type=float, default=300)
    p.add_argument("--bench-timeout", type=float, default=120)
    p.add_argument("--torch-timeout", type=float, default=300)
    p.add_argument("--compile-timeout", type=float, default=600)
    p.add_argument("--table-only", action="store_true", help="reprint the table of an existing networks.jsonl")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if args.child:
        spec = json.loads(args.spec)
        {"info": child_info, "export": child_export, "torch": child_torch}[args.child](spec)
        return 0
    return main_parent(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
