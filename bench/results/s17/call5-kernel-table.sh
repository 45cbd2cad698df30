#!/usr/bin/env bash
# Session 17 call 5: the issue's normalization kernel table at d45edcb: gpu_norm_bench (every default shape, both
# layouts, fp16 and fp32, cold) beside PyTorch's F.group_norm (+SiLU) and torch.compile of the same (gpu_norm.py).
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
cd $P/.. && STAGES=kernels bash bench/gpu.sh $P
