#!/usr/bin/env bash
# CPU latency of normrt against ONNX Runtime and PyTorch on the fixture models, batch 1 and 8, 2 threads
# each, in one run on the same machine. Prints a table of ratios and writes it to bench/results/cpu.md.
# Usage: bash bench/cpu.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
OUT=build/bench_cpu
mkdir -p "$OUT"
/usr/bin/python3 tests/fixtures/make_fixtures.py --out "$OUT/fixtures" >/dev/null
: > "$OUT/results.jsonl"
models=$(/usr/bin/python3 -c "
import json; d = json.load(open('$OUT/fixtures/fixtures.json'))
for m in d['models']:
    if m['opset'] == 17: print(m['dir'])")
for dir in $models; do
  flags=$(/usr/bin/python3 - "$OUT/fixtures/fixtures.json" "$dir" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = next(m for m in d["models"] if m["dir"] == sys.argv[2])
fmt = lambda key: ",".join(i["name"] + ":" + "x".join(map(str, i["profile"][key])) for i in m["inputs"])
print(f"--minShapes={fmt('min')} --optShapes={fmt('opt')} --maxShapes={fmt('max')}")
PY
)
  ./build/normrt build "$OUT/fixtures/$dir/model.onnx" -o "$OUT/$dir.nrt" $flags >/dev/null
  for batch in 1 8; do
    shapes=$(/usr/bin/python3 - "$OUT/fixtures/fixtures.json" "$dir" "$batch" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = next(m for m in d["models"] if m["dir"] == sys.argv[2])
print(",".join(i["name"] + ":" + "x".join(map(str, [int(sys.argv[3])] + i["profile"]["opt"][1:])) for i in m["inputs"]))
PY
)
    OMP_NUM_THREADS=$THREADS ./build/normrt bench "$OUT/$dir.nrt" --shapes="$shapes" --iterations 20 --warmup 3 --json |
      /usr/bin/python3 -c "
import json, sys; r = json.loads(sys.stdin.read()); r.update(model='${dir%_op17}', batch=$batch, runtime='normrt')
print(json.dumps(r))" >> "$OUT/results.jsonl"
  done
done
.venv/bin/python bench/cpu_peers.py --fixtures "$OUT/fixtures" --opset 17 --batches 1 8 --threads "$THREADS" >> "$OUT/results.jsonl"
/usr/bin/python3 bench/cpu_report.py "$OUT/results.jsonl" "bash bench/cpu.sh" | tee bench/results/cpu.md
