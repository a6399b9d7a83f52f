#!/usr/bin/env bash
# Health checks at scale: 10,000 instances at a 1 s interval against local
# listeners; do they keep their schedule, and at what CPU?
#
#   test/bench/health.sh                 full run (60 s per scenario), writes docs/benchmarks.md
#   BENCH_QUICK=1 test/bench/health.sh   smoke run (1,000 instances, 5 s), prints only
#
# It builds test/bench/healthscale and runs it. For each scenario (HTTP, TCP,
# and HTTP with 100 of the instances pointed at a listener that never
# answers) it starts a fresh Cloud Map backend and checker in its own
# process, registers the instances, serves the targets from a child process,
# and measures the probes' lag behind their slots, the slots skipped, and
# the CPU of both processes. Then it replaces the section between
# <!-- health:begin --> and <!-- health:end --> in docs/benchmarks.md (the
# markers are added at the end of the file if missing) and prints a summary.
#
# Environment:
#   BENCH_QUICK=1          1,000 instances, 5 s per scenario, 2 s warm-up; docs are not written unless BENCH_DOCS is set
#   BENCH_INSTANCES=10000  instances per scenario
#   BENCH_DURATION=60s     measured time per scenario
#   BENCH_SCENARIOS=...    default HTTP,TCP,HTTP+blackholed (HTTPS works too)
#   BENCH_DOCS=FILE        where to write the section ("" = nowhere); default docs/benchmarks.md
#   BENCH_QUIET_WAIT=10m   before each scenario, wait up to this long for other processes to use under half
#                          a CPU (the run needs about 1.2 of this machine's 2 CPUs); 0 = do not wait
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	instances=${BENCH_INSTANCES:-1000} duration=${BENCH_DURATION:-5s} warmup=2s docs=${BENCH_DOCS-} quiet=${BENCH_QUIET_WAIT:-0}
else
	instances=${BENCH_INSTANCES:-10000} duration=${BENCH_DURATION:-60s} warmup=5s docs=${BENCH_DOCS-docs/benchmarks.md} quiet=${BENCH_QUIET_WAIT:-10m}
fi
scenarios=${BENCH_SCENARIOS:-HTTP,TCP,HTTP+blackholed}

work=$(mktemp -d "${TMPDIR:-/tmp}/health-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
go build -o "$work/healthscale" ./test/bench/healthscale

commit=$(git rev-parse --short HEAD 2>/dev/null || echo uncommitted)
if ! git diff --quiet HEAD 2>/dev/null; then
	commit="$commit (with uncommitted changes)"
fi
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
note="Machine: $(nproc) CPUs, $cpu, $(go env GOVERSION); commit $commit; load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"

"$work/healthscale" -instances "$instances" -interval 1s -duration "$duration" -warmup "$warmup" \
	-scenarios "$scenarios" -quiet-wait "$quiet" -docs "$docs" -note "$note"
if [[ -n $docs ]]; then
	echo "wrote the health section of $docs"
fi
