# One eager forward of PyTorch's UNet (channels-last, TF32) at batch 1 between cudaProfilerStart/Stop, for ncu.
# From the repository root on the GPU machine:
#   ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --profile-from-start off \
#     python3 bench/probes/torch_ncu.py > torch_ncu.csv
# and for normrt's engine (built by bench/gpu.sh's networks stage):
#   ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
#     normrt bench tf32-default.nrt --shapes=latent:1x4x32x32 --iterations 1 --warmup 0 > normrt_ncu.csv
import sys
sys.path.insert(0, "bench")
import torch
import gpu_networks as g
torch.backends.cudnn.allow_tf32 = True
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.benchmark = True
model, _ = g.build_model(torch, {"model": "unet_sd15", "seed": 0, "unet_widths": [320, 640, 1280]})
model = model.cuda().to(memory_format=torch.channels_last)
x = torch.randn(1, 4, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
with torch.no_grad():
    for _ in range(5): model(x)
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    model(x)
    torch.cuda.synchronize()
    torch.cuda.profiler.stop()
