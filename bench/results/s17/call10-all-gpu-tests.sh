#!/usr/bin/env bash
# Session 17 call 10: every GPU test and the command line at 7d2f20c + the norm tuning candidates of clusters of 16
# (bench/gpu.sh, stages tests and cli).
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
cd $P/.. && STAGES="tests cli" TESTS_TIMEOUT=540 bash bench/gpu.sh $P
