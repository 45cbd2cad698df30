#!/usr/bin/env bash
# Session 16 call 9: the LayerNorm row kernels after sharing their reduction helpers (warp_sum,
# squared_deviations): the norm kernel tests and the engine tests.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm*:CudaEngine.*:CudaAttention.*:CublasLtMatMulBias.*' > $OUT/tests.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran" $OUT/tests.log | head -20
