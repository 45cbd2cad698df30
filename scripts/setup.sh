#!/usr/bin/env bash
# The set-up command: installs dependencies, builds, and runs the bundled example model on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
example=examples/models/conv_gn_relu
./build/normrt inspect "$example/model.onnx"
./build/normrt build "$example/model.onnx" -o build/example.nrt --device cpu \
  --minShapes=input:1x3x32x32 --optShapes=input:2x3x32x32 --maxShapes=input:4x3x32x32
./build/normrt run build/example.nrt --input input="$example/input.npy" --output-dir build/example_out
cat build/example_out/manifest.json
