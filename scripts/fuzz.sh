#!/usr/bin/env bash
# Fuzzing with libFuzzer (clang): builds the fuzz targets (fuzz/*_fuzzer.cpp) in build-asan (ASan + UBSan +
# coverage; configured by scripts/sanitize.sh, which runs the whole test suite from the same build), makes the
# seed corpus, runs every target for SECONDS (default 60; all targets at once), and fails when one finds a crash,
# a sanitizer report, a leak, a hang or an out-of-memory. The input that did it is left in build-asan/artifacts/;
# once the bug is fixed, copy it into fuzz/regressions/<target>/, where the normal test suite replays it
# (tests/fuzz/fuzz_regressions_test.cpp).
#
#   scripts/fuzz.sh [SECONDS]
#
# Seeds: the bundled example model, the small PyTorch fixture exports and small models of every op normrt
# implements (fuzz/make_seeds.py) for the ONNX target; an engine built from the example and from each op model
# for the engine targets; fuzz/regressions/<target>/ for each.
# The corpus grows in build-asan/corpus/<target>/ across local runs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=build-asan

bash scripts/sanitize.sh configure-asan
cmake --build "$build" -j"$(nproc)" --target normrt_cli onnx_import_fuzzer engine_file_fuzzer engine_resealed_fuzzer \
  timing_cache_fuzzer

export OMP_NUM_THREADS=1
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

seeds=$build/seeds
rm -rf "$seeds" "$build/artifacts"
mkdir -p "$seeds/onnx" "$seeds/engine" "$seeds/timing_cache" "$build/artifacts"
/usr/bin/python3 fuzz/make_seeds.py "$seeds/onnx" >/dev/null
example=examples/models/conv_gn_relu
cp "$example/model.onnx" "$seeds/onnx/conv_gn_relu.onnx"
# The small PyTorch exports the test suite made (build/fixtures, when the tests ran first): exporter-style
# GroupNorm subgraphs and shape arithmetic. Larger ones would only slow every mutation down.
for model in build/fixtures/*/model.onnx; do
  if [ -f "$model" ] && [ "$(stat -c %s "$model")" -lt 65536 ]; then
    cp "$model" "$seeds/onnx/fixture_$(basename "$(dirname "$model")").onnx"
  fi
done
"$build/normrt" build "$example/model.onnx" -o "$seeds/engine/conv_gn_relu.nrt" \
  --minShapes=input:1x3x32x32 --optShapes=input:1x3x32x32 --maxShapes=input:2x3x32x32 >/dev/null
for model in "$seeds"/onnx/*.onnx; do
  name=$(basename "$model" .onnx)
  [ "$name" = conv_gn_relu ] && continue
  [[ "$name" == fixture_* ]] && continue  # dynamic batch: the ONNX target only
  "$build/normrt" build "$model" -o "$seeds/engine/$name.nrt" >/dev/null
done
echo "fuzz seeds: $(ls "$seeds/onnx" | wc -l) models, $(ls "$seeds/engine" | wc -l) engines"

printf 'normrt timing cache 1\nNVIDIA H100 80GB HBM3; sm 9.0; cudnn 91900; cublasLt 130000; normrt tuners 1\tcudnn_conv|in float32[1,4,32,32]|%%09\tengine=51;rank=0\nscope\tgemm\t\n' \
  >"$seeds/timing_cache/two_entries.cache"
declare -A seed_dir=([onnx_import]=onnx [engine_file]=engine [engine_resealed]=engine [timing_cache]=timing_cache)
pids=()
targets=()
for target in onnx_import engine_file engine_resealed timing_cache; do
  mkdir -p "$build/corpus/$target"
  "$build/fuzz/${target}_fuzzer" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target-" "$build/corpus/$target" "$seeds/${seed_dir[$target]}" \
    "fuzz/regressions/$target" >"$build/$target.log" 2>&1 &
  pids+=($!)
  targets+=("$target")
done
status=0
for i in "${!pids[@]}"; do
  target=${targets[$i]}
  if wait "${pids[$i]}"; then
    echo "fuzz $target: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$build/$target.log"), corpus $(ls "$build/corpus/$target" | wc -l)"
  else
    status=1
    echo "fuzz $target FAILED; the end of $build/$target.log:"
    tail -n 60 "$build/$target.log"
    echo "the input is in $build/artifacts/ ($(ls "$build/artifacts" | grep "^$target-" | tr '\n' ' '))"
  fi
done
exit $status
