#!/usr/bin/env bash
# Session 17 call 7: NCHW clusters of several waves take fewer threads at the same cluster size before a smaller
# cluster. GPU tests (CudaNorm*), then the issue's kernel table again (gpu_norm_bench + gpu_norm.py beside PyTorch).
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
cd $P/.. && STAGES="tests kernels" TEST_FILTER='CudaNorm*' bash bench/gpu.sh $P
