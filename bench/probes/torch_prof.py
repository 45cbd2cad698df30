# Per-kernel CUDA time of PyTorch's UNet (eager, channels-last, TF32) at batch 1, from torch.profiler.
#   python3 bench/probes/torch_prof.py   (from the repository root on the GPU machine)
import sys, json, collections
sys.path.insert(0, "bench")
import torch
import gpu_networks as g
torch.backends.cudnn.allow_tf32 = True
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.benchmark = True
spec = {"model": "unet_sd15", "seed": 0, "unet_widths": [320, 640, 1280]}
model, _ = g.build_model(torch, spec)
model = model.cuda().to(memory_format=torch.channels_last)
x = torch.randn(1, 4, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
with torch.no_grad():
    for _ in range(5): model(x)
    torch.cuda.synchronize()
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3): model(x)
        torch.cuda.synchronize()
rows = []
for e in prof.events():
    if e.device_type == torch.autograd.DeviceType.CUDA:
        rows.append((e.name, e.time_range.start, e.time_range.end))
rows.sort(key=lambda r: r[1])
n = len(rows) // 3
one = rows[:n]
agg = collections.defaultdict(lambda: [0, 0.0])
for name, s, e in one:
    agg[name][0] += 1; agg[name][1] += (e - s)
tot = sum(v[1] for v in agg.values())
print(f"torch kernels per forward: {n}, sum of kernel time {tot:.1f} us, span {one[-1][2]-one[0][1]:.1f} us")
for name, (c, t) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    print(f"{t:9.1f} us {c:4d}  {name[:150]}")
