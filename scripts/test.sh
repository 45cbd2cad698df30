#!/usr/bin/env bash
# The test command: makes sure dependencies and the build are current, then runs every test (GoogleTest
# through ctest, including the PyTorch-export model tests, and pytest), then the hardening runs: the whole suite
# and the command line under ASan+UBSan, the concurrency tests under TSan (scripts/sanitize.sh) and each fuzz
# target for NORMRT_FUZZ_SECONDS (default 45; scripts/fuzz.sh). NORMRT_SKIP_HARDENING=1 skips those.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage prints its time (CI has 90 minutes and should stay well under 30).
start=$SECONDS
bash scripts/install_deps.sh
echo "dependencies: $((SECONDS - start)) s"
start=$SECONDS
bash scripts/build.sh
echo "build: $((SECONDS - start)) s"
start=$SECONDS
ctest --test-dir build --output-on-failure -j"$(nproc)"
if [ -d tests/python ]; then .venv/bin/python -m pytest -q tests/python; fi
echo "tests: $((SECONDS - start)) s"
if [ "${NORMRT_SKIP_HARDENING:-0}" != 1 ]; then
  start=$SECONDS
  bash scripts/sanitize.sh asan tsan
  echo "sanitizers: $((SECONDS - start)) s"
  start=$SECONDS
  bash scripts/fuzz.sh "${NORMRT_FUZZ_SECONDS:-45}"
  echo "fuzzing: $((SECONDS - start)) s"
fi
