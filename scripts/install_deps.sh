#!/usr/bin/env bash
# Installs everything normrt needs to build, test, fuzz and benchmark on Debian 12: Debian packages with apt-get
# (OpenBLAS built with OpenMP, so that the PyTorch peer in benchmarks uses a real BLAS), and ONNX Runtime
# (a peer for benchmarks and fused-model checks) and scikit-build-core (the normrt Python package's build
# backend) from PyPI into .venv, which sees Debian's python3-torch, numpy and pybind11 through
# --system-site-packages. onnxruntime 1.24.4 is the newest that keeps Debian's protobuf.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PACKAGES=(build-essential cmake pkg-config zlib1g-dev
  libonnx-dev libprotobuf-dev protobuf-compiler libdnnl-dev libcli11-dev libgtest-dev googletest
  python3 python3-venv python3-pip python3-numpy python3-torch python3-onnx python3-pytest
  python3-dev pybind11-dev python3-pybind11 ninja-build
  libopenblas0-openmp nlohmann-json3-dev
  clang libclang-rt-14-dev)  # clang and its runtime for the libFuzzer targets (scripts/fuzz.sh)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -c "import onnxruntime" 2>/dev/null || .venv/bin/pip install -q "onnxruntime==1.24.4"
# The build backend of the normrt Python package (pyproject.toml); scripts/build.sh installs the package with
# it against the CMake build, using Debian's pybind11.
.venv/bin/python -c "import scikit_build_core" 2>/dev/null || .venv/bin/pip install -q "scikit-build-core==1.1.2"
