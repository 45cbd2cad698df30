#!/usr/bin/env bash
# Configures and builds normrt into build/ (the CLI is build/normrt) and installs the Python package into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
# The Python package into .venv, linked against this build: only the pybind11 binding compiles (its CMake tree
# is kept in build/python, so an unchanged binding is not compiled again). See python/README.md.
if [ -x .venv/bin/python ] && .venv/bin/python -c "import scikit_build_core" 2>/dev/null; then
  .venv/bin/pip install -q --no-build-isolation --no-deps \
    --config-settings=cmake.define.NORMRT_BUILD_DIR="$PWD/build" --config-settings=build-dir=build/python ./
else
  echo "build.sh: no .venv with scikit-build-core (run scripts/install_deps.sh); the Python package was not installed" >&2
fi
