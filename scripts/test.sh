#!/usr/bin/env bash
# The test command: makes sure dependencies and the build are current, then runs every test (GoogleTest
# through ctest, including the PyTorch-export model tests, and pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
if [ -d tests/python ]; then .venv/bin/python -m pytest -q tests/python; fi
