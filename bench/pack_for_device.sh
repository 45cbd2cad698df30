#!/usr/bin/env bash
# Packs what the GPU machine needs to run normrt built HERE (it has CUDA, cuDNN, cuBLAS, python3 with torch, but
# none of our Debian libraries): the build's binaries and libraries, the non-CUDA shared libraries they load
# (protobuf, onnx, oneDNN, OpenCL loader; compressed, oneDNN alone is ~40 MB), the fixture models, and the bench
# scripts, into DEST (default .devcarry, git-ignored). The device tool carries at most 64 MiB.
#
#   bash bench/pack_for_device.sh [BUILD_DIR] [DEST]
#   then, on the device:  bash DEST/unpack.sh   (prints the LD_LIBRARY_PATH to use)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
dest=${2:-.devcarry}
rm -rf "$dest" && mkdir -p "$dest/bin" "$dest/fixtures"
for f in normrt libnormrt.so libnormrt_cuda.so libnormrt_example_plugin.so gpu_norm_bench tests_cuda/normrt_cuda_tests; do
  [ -e "$build/$f" ] && cp "$build/$f" "$dest/bin/"
done
# Shared libraries the binaries load that the GPU machine lacks (everything but libc/libstdc++/CUDA's own).
libs=$(ldd "$build/normrt" "$build/libnormrt_cuda.so" "$build/tests_cuda/normrt_cuda_tests" 2>/dev/null |
  awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev 'libc\.so|libm\.so|libstdc\+\+|libgcc_s|ld-linux|libpthread|libdl\.|librt\.|cuda|cudnn|cublas|libnormrt' || true)
mkdir -p "$dest/lib.tmp"
for l in $libs; do cp -L "$l" "$dest/lib.tmp/"; done
tar -C "$dest/lib.tmp" -cJf "$dest/libs.tar.xz" .
rm -rf "$dest/lib.tmp"
if [ -d "$build/fixtures" ]; then cp -r "$build/fixtures/." "$dest/fixtures/"; fi
cat > "$dest/unpack.sh" <<'UNPACK'
#!/usr/bin/env bash
# Unpacks the libraries beside this script; prints the LD_LIBRARY_PATH for the binaries in bin/. A variant runtime
# for an A/B goes in its own folder as V/libnormrt_cuda.so.xz; this makes V/ whole (the library and bin/'s
# libnormrt.so beside it: libnormrt.so loads the CUDA backend from its own folder, so a folder holding only
# libnormrt_cuda.so ahead in LD_LIBRARY_PATH changes nothing). Run the variant with LD_LIBRARY_PATH=V:<printed>.
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/lib" && tar -C "$here/lib" -xJf "$here/libs.tar.xz"
for variant in "$here"/*/libnormrt_cuda.so.xz; do
  [ -e "$variant" ] || continue
  v=$(dirname "$variant")
  xz -d -k -f "$variant" && cp "$here/bin/libnormrt.so" "$v/"
done
echo "$here/bin:$here/lib:/usr/lib/x86_64-linux-gnu:/usr/local/cuda-13.0/targets/x86_64-linux/lib"
UNPACK
chmod +x "$dest/unpack.sh"
du -sh "$dest"
