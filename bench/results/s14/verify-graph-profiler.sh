#!/usr/bin/env bash
# Session 14 call 6: the profiler's event record nodes (cudaEventRecordExternal): CudaEngine tests, then two
# fixtures (tf32, batch 3) profiled in a replayed graph.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt_cuda_tests --gtest_filter='CudaEngine.*' > $OUT/tests.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED TEST|Profiling" $OUT/tests.log | head
F=$P/fixtures
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt build $F/resnet_gn_op17/model.onnx -o /tmp/r.nrt --device cuda --tf32 --minShapes=image:1x3x32x32 --optShapes=image:3x3x32x32 --maxShapes=image:8x3x32x32 > $OUT/build-r.log 2>&1
LD_LIBRARY_PATH=$LIBS timeout 30 $P/bin/normrt bench /tmp/r.nrt --shapes=image:3x3x32x32 --iterations 50 --profile --profile-nodes 8 > $OUT/profile-resnet.txt 2>&1
head -14 $OUT/profile-resnet.txt
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt build $F/unet_block_op17/model.onnx -o /tmp/u.nrt --device cuda --tf32 --minShapes=x:1x32x16x16,t_emb:1x64 --optShapes=x:3x32x16x16,t_emb:3x64 --maxShapes=x:8x32x16x16,t_emb:8x64 > $OUT/build-u.log 2>&1
LD_LIBRARY_PATH=$LIBS timeout 30 $P/bin/normrt bench /tmp/u.nrt --shapes=x:3x32x16x16,t_emb:3x64 --iterations 50 --profile --profile-nodes 8 > $OUT/profile-unet-block.txt 2>&1
head -14 $OUT/profile-unet-block.txt
