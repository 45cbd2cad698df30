#!/usr/bin/env bash
# Fetches the ONNX backend node tests (the conformance suite) into build/conformance/node, or into the folder
# given as the first argument. They ship as data files only in the PyPI wheel of onnx 1.22.0
# (onnx/backend/test/data/node/<test>/model.onnx + test_data_set_*/{input,output}_*.pb); Debian's python3-onnx
# has none. Idempotent: does nothing when the folder is already complete.
set -euo pipefail
cd "$(dirname "$0")/.."
ONNX_VERSION=1.22.0
DEST="${1:-build/conformance/node}"
WORK="$(dirname "$DEST")"
STAMP="$DEST/.complete-onnx-$ONNX_VERSION"
if [ -f "$STAMP" ]; then
  exit 0
fi

PIP=(/usr/bin/python3 -m pip)
[ -x .venv/bin/pip ] && PIP=(.venv/bin/pip)
mkdir -p "$WORK/wheel"
wheel="$(ls "$WORK"/wheel/onnx-"$ONNX_VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then
  "${PIP[@]}" download -q --no-deps --only-binary=:all: "onnx==$ONNX_VERSION" -d "$WORK/wheel"
  wheel="$(ls "$WORK"/wheel/onnx-"$ONNX_VERSION"-*.whl | head -n 1)"
fi

# Extract only the node tests, into a fresh folder that replaces DEST when complete (an interrupted run leaves
# no half-filled DEST behind).
rm -rf "$DEST.partial"
/usr/bin/python3 - "$wheel" "$DEST.partial" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "onnx/backend/test/data/node/"
root = os.path.realpath(dest)
count = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        target = os.path.realpath(os.path.join(dest, rel))
        if not target.startswith(root + os.sep):  # a wheel is downloaded data: no path leaves dest
            sys.exit("refusing entry outside the destination: " + info.filename)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())
        count += 1
tests = [d for d in os.listdir(dest) if os.path.isdir(os.path.join(dest, d))]
if not tests:
    sys.exit("no node tests found in " + wheel)
print("extracted %d files, %d node tests, into %s" % (count, len(tests), dest.removesuffix(".partial")))
PY
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
touch "$STAMP"
