#!/usr/bin/env bash
# The sanitizer builds (CPU only, GCC, -O1), run by scripts/test.sh after the main tests:
#   asan  build-asan, AddressSanitizer + UndefinedBehaviorSanitizer (+ libstdc++ assertions): the whole test
#         suite through ctest, then the command line on the bundled example model (inspect, build, run, inspect
#         the engine). Any report fails the run (UBSan does not recover; LeakSanitizer is on).
#   tsan  build-tsan, ThreadSanitizer: tests/concurrency (one engine, execution contexts on 8 threads). GCC's
#         OpenMP runtime (libgomp) is not instrumented, so TSan cannot see the synchronization inside its
#         parallel regions and reports races between OpenMP worker threads that are not there; the run sets
#         OMP_NUM_THREADS=1 so that OpenMP starts no threads and every thread TSan sees is one the test made.
#
#   scripts/sanitize.sh [asan] [tsan]     (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(asan tsan)
jobs=$(nproc)
flags=(-DCMAKE_BUILD_TYPE=Debug -DNORMRT_CUDA=OFF)

for step in "${steps[@]}"; do
  case "$step" in
    asan)
      cmake -S . -B build-asan "${flags[@]}" -DNORMRT_SANITIZE=address,undefined \
        -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1 -D_GLIBCXX_ASSERTIONS" >/dev/null
      cmake --build build-asan -j"$jobs"
      # allocator_may_return_null: an allocation the machine cannot satisfy throws as it does without ASan
      # (tests lower the address space to show that huge tensors are refused or fail cleanly).
      export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
      export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
      ctest --test-dir build-asan --output-on-failure -j"$jobs"
      example=examples/models/conv_gn_relu
      out=build-asan/cli
      rm -rf "$out" && mkdir -p "$out"
      build-asan/normrt inspect "$example/model.onnx" >"$out/inspect_model.txt"
      build-asan/normrt build "$example/model.onnx" -o "$out/example.nrt" --device cpu \
        --minShapes=input:1x3x32x32 --optShapes=input:2x3x32x32 --maxShapes=input:4x3x32x32 >/dev/null
      build-asan/normrt inspect "$out/example.nrt" >"$out/inspect_engine.txt"
      build-asan/normrt run "$out/example.nrt" --input input="$example/input.npy" --output-dir "$out/run" >/dev/null
      build-asan/normrt run "$example/model.onnx" --input input="$example/input.npy" --output-dir "$out/run_model" >/dev/null
      build-asan/normrt bench "$out/example.nrt" --shapes=input:2x3x32x32 --iterations 3 --warmup 1 >/dev/null
      echo "asan: the test suite and the command line (inspect, build, run, bench) ran clean"
      unset ASAN_OPTIONS UBSAN_OPTIONS
      ;;
    tsan)
      cmake -S . -B build-tsan "${flags[@]}" -DNORMRT_SANITIZE=thread -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" >/dev/null
      cmake --build build-tsan -j"$jobs" --target normrt_concurrency_tests
      OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/normrt_concurrency_tests
      echo "tsan: concurrent execution contexts ran clean"
      ;;
    *)
      echo "unknown step '$step' (asan or tsan)" >&2
      exit 2
      ;;
  esac
done
