#!/usr/bin/env bash
# The sanitizer builds (CPU only; -O0, with src/ops and src/cpu at -O1: see CMakeLists.txt), run by scripts/test.sh after the main tests:
#   asan  build-asan (clang): AddressSanitizer + UndefinedBehaviorSanitizer (+ libstdc++ assertions), the whole
#         test suite through ctest, then the command line on the bundled example model (inspect, build, run,
#         bench). Any report fails the run (UBSan does not recover; LeakSanitizer is on). The same build carries
#         libFuzzer's coverage instrumentation and the fuzz targets, so scripts/fuzz.sh runs from it without a
#         third build of the library (CI time).
#   tsan  build-tsan (GCC), ThreadSanitizer: tests/concurrency (one engine, execution contexts on 8 threads).
#         GCC's OpenMP runtime (libgomp) is not instrumented, so TSan cannot see the synchronization inside its
#         parallel regions and reports races between OpenMP worker threads that are not there; the run sets
#         OMP_NUM_THREADS=1 so that OpenMP starts no threads and every thread TSan sees is one the test made.
#   configure-asan  only configures build-asan (scripts/fuzz.sh uses it).
#
#   scripts/sanitize.sh [asan] [tsan]     (default: both)
#
# In build-asan the library is compiled with -fopenmp=libgomp: clang then ignores the OpenMP pragmas (normrt's
# kernels run serially there; threads are TSan's business) while oneDNN keeps the GNU OpenMP runtime it was
# built with.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(asan tsan)
jobs=$(nproc)
flags=(-DCMAKE_BUILD_TYPE=Debug -DNORMRT_CUDA=OFF)

configure_asan() {
  cmake -S . -B build-asan "${flags[@]}" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DNORMRT_WERROR=OFF \
    -DNORMRT_SANITIZE=address,undefined -DNORMRT_FUZZ=ON \
    -DCMAKE_CXX_FLAGS_DEBUG="-O0 -gline-tables-only -D_GLIBCXX_ASSERTIONS" -DCMAKE_C_FLAGS_DEBUG="-O0" \
    -DOpenMP_CXX_FLAGS=-fopenmp=libgomp -DOpenMP_CXX_LIB_NAMES=gomp \
    -DOpenMP_gomp_LIBRARY="$(gcc -print-file-name=libgomp.so)" >/dev/null
}

for step in "${steps[@]}"; do
  step_start=$SECONDS
  case "$step" in
    configure-asan)
      configure_asan
      ;;
    asan)
      configure_asan
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
      echo "asan: the test suite and the command line (inspect, build, run, bench) ran clean ($((SECONDS - step_start)) s)"
      unset ASAN_OPTIONS UBSAN_OPTIONS
      ;;
    tsan)
      cmake -S . -B build-tsan "${flags[@]}" -DNORMRT_SANITIZE=thread -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" >/dev/null
      cmake --build build-tsan -j"$jobs" --target normrt_concurrency_tests
      OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/tests/normrt_concurrency_tests
      echo "tsan: concurrent execution contexts ran clean ($((SECONDS - step_start)) s)"
      ;;
    *)
      echo "unknown step '$step' (asan, tsan or configure-asan)" >&2
      exit 2
      ;;
  esac
done
