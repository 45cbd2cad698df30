#!/usr/bin/env bash
# CPU latency of normrt against ONNX Runtime and PyTorch on the fixture models, batch 1 and 8, 2 threads
# each, in one run on the same machine. Prints a table of ratios and writes it to build/bench_cpu/cpu.md;
# results that are reported get copied to bench/results/ with the command that made them.
# Usage: bash bench/cpu.sh   (after scripts/setup.sh)
# Environment: THREADS (2), PIN (a prefix such as "taskset -c 0,1" that pins every runtime to the same cores),
# PEER_PYTHON (.venv/bin/python), FIXTURES (an existing fixtures folder; made here when unset), NORMRT
# (build/normrt), OUT (build/bench_cpu), RESULTS (bench/results/cpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
PIN=${PIN:-}
PEER_PYTHON=${PEER_PYTHON:-.venv/bin/python}
NORMRT=${NORMRT:-./build/normrt}
OUT=${OUT:-build/bench_cpu}
RESULTS=${RESULTS:-build/bench_cpu/cpu.md}
mkdir -p "$OUT"
if [ -z "${FIXTURES:-}" ]; then
  FIXTURES="$OUT/fixtures"
  /usr/bin/python3 tests/fixtures/make_fixtures.py --out "$FIXTURES" >/dev/null
fi
: > "$OUT/results.jsonl"
models=$(python3 -c "
import json; d = json.load(open('$FIXTURES/fixtures.json'))
for m in d['models']:
    if m['opset'] == 17: print(m['dir'])")
for dir in $models; do
  flags=$(python3 - "$FIXTURES/fixtures.json" "$dir" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = next(m for m in d["models"] if m["dir"] == sys.argv[2])
fmt = lambda key: ",".join(i["name"] + ":" + "x".join(map(str, i["profile"][key])) for i in m["inputs"])
print(f"--minShapes={fmt('min')} --optShapes={fmt('opt')} --maxShapes={fmt('max')}")
PY
)
  $NORMRT build "$FIXTURES/$dir/model.onnx" -o "$OUT/$dir.nrt" $flags >/dev/null
  for batch in 1 8; do
    shapes=$(python3 - "$FIXTURES/fixtures.json" "$dir" "$batch" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = next(m for m in d["models"] if m["dir"] == sys.argv[2])
print(",".join(i["name"] + ":" + "x".join(map(str, [int(sys.argv[3])] + i["profile"]["opt"][1:])) for i in m["inputs"]))
PY
)
    OMP_NUM_THREADS=$THREADS $PIN $NORMRT bench "$OUT/$dir.nrt" --shapes="$shapes" --iterations 20 --warmup 3 --json |
      python3 -c "
import json, sys; r = json.loads(sys.stdin.read()); r.update(model='${dir%_op17}', batch=$batch, runtime='normrt')
print(json.dumps(r))" >> "$OUT/results.jsonl"
  done
done
$PIN $PEER_PYTHON bench/cpu_peers.py --fixtures "$FIXTURES" --opset 17 --batches 1 8 --threads "$THREADS" >> "$OUT/results.jsonl"
python3 bench/cpu_report.py "$OUT/results.jsonl" "${BENCH_COMMAND:-bash bench/cpu.sh}" | tee "$RESULTS"
