#!/usr/bin/env bash
# Cloud Map API throughput: mapmesh against moto, in one run on this machine.
#
#   test/bench/cloudmap.sh                 full run (10 s per measurement), writes docs/benchmarks.md
#   BENCH_QUICK=1 test/bench/cloudmap.sh   smoke run (2 s per measurement), prints only
#
# It builds bin/mapmesh and bin/mapmesh-load, starts mapmesh (temporary data
# dir) and moto_server on free loopback ports, seeds both the same way, and
# drives both with the same client (mapmesh-load, c=8):
#   (a) DiscoverInstances, 100 instances, all returned
#   (b) DiscoverInstances, 1,000 instances, all returned
#   (c) RegisterInstance, a new instance per request (mapmesh fsyncs; moto keeps nothing on disk)
#   (d) a stub that answers (a) and (b) with a canned body of the same size and
#       does no work: the client-bound ceiling on this machine
# Then it replaces the section between <!-- cloudmap-api:begin --> and
# <!-- cloudmap-api:end --> in docs/benchmarks.md and prints the same summary.
# If mapmesh does not build or start, the moto and stub figures are still
# measured and the report says "mapmesh not available".
#
# Environment:
#   BENCH_QUICK=1        2 s runs, 0.5 s warm-up; docs are not written unless BENCH_DOCS is set
#   BENCH_DURATION=10s   time bound of each measured run (a run also stops after BENCH_COUNT requests)
#   BENCH_COUNT=200000   request bound of each measured run
#   BENCH_WARMUP=1s      unrecorded warm-up before each run (a duration or a request count)
#   BENCH_C=8            concurrency
#   BENCH_DOCS=FILE      where to write the section ("" = nowhere); default docs/benchmarks.md
#   BENCH_STRICT=1       exit 1 when a target is not met or not measured
#   BENCH_KEEP=1         keep the work directory (server logs, JSON results)
#   BENCH_MAPMESH_BIN=F  run this server binary instead of building bin/mapmesh (same flags)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	duration=${BENCH_DURATION:-2s} warmup=${BENCH_WARMUP:-0.5s} docs=${BENCH_DOCS-}
else
	duration=${BENCH_DURATION:-10s} warmup=${BENCH_WARMUP:-1s} docs=${BENCH_DOCS-docs/benchmarks.md}
fi
count=${BENCH_COUNT:-200000}
conc=${BENCH_C:-8}

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d "${TMPDIR:-/tmp}/cloudmap-bench.XXXXXX")
pids=()

# spawn LOG CMD...: start CMD in the background in its own process group (so
# that stop also ends any children it has), output to LOG; its pid is in $spawned.
spawn() {
	local out=$1
	shift
	setsid "$@" >"$out" 2>&1 &
	spawned=$!
	pids+=("$spawned")
}

# alive PID: the process runs (exited children stay zombies until waited for).
alive() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# stop PID: TERM its process group, KILL after 5 s, and forget it.
stop() {
	local pid=$1 i
	if kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null; then
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	local rest=()
	for i in "${pids[@]}"; do
		[[ $i == "$pid" ]] || rest+=("$i")
	done
	pids=("${rest[@]}")
}

cleanup() {
	while ((${#pids[@]})); do
		stop "${pids[0]}"
	done
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "cloudmap-bench: $*" >&2; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PID PORT SECONDS: wait until PORT accepts connections; fail if PID exits first.
wait_port() {
	local pid=$1 port=$2 i
	for ((i = 0; i < $3 * 10; i++)); do
		alive "$pid" || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

load=bin/mapmesh-load
log "building $load"
go build -o "$load" ./cmd/mapmesh-load

# mapmesh: any failure from here on makes it "not available", never aborts the run.
mapmesh_url="" mapmesh_pid="" mapmesh_reason=""
mapmesh=${BENCH_MAPMESH_BIN:-bin/mapmesh}
if [[ -z ${BENCH_MAPMESH_BIN:-} ]]; then
	log "building bin/mapmesh"
	go build -o bin/mapmesh ./cmd/mapmesh >"$work/mapmesh-build.log" 2>&1 ||
		mapmesh_reason="build failed: $(grep -m1 -v '^#' "$work/mapmesh-build.log" || true)"
fi
if [[ -z $mapmesh_reason ]]; then
	[[ $(df --output=fstype "$work" | tail -n 1) != tmpfs ]] ||
		log "warning: $work is on tmpfs, so mapmesh's fsync costs nothing; set TMPDIR to a disk"
	port=$(free_port)
	# AWS allows 1,000 instances per service and 2,000 per namespace; raise the
	# quotas so that every RegisterInstance adds a new instance, as with moto.
	spawn "$work/mapmesh.log" env MAPMESH_QUOTA_INSTANCES_PER_SERVICE=100000000 \
		MAPMESH_QUOTA_INSTANCES_PER_NAMESPACE=100000000 \
		"$mapmesh" --api-addr "127.0.0.1:$port" --dns-addr "" --xds-addr "" --throttle off --data-dir "$work/mapmesh-data"
	mapmesh_pid=$spawned
	if wait_port "$mapmesh_pid" "$port" 30; then
		mapmesh_url="http://127.0.0.1:$port"
		log "mapmesh pid $mapmesh_pid on $mapmesh_url: $(grep -m1 "127.0.0.1:$port" "$work/mapmesh.log" || echo '(no listen line logged)')"
	else
		if alive "$mapmesh_pid"; then
			why="no listener on 127.0.0.1:$port after 30 s"
			stop "$mapmesh_pid"
		else
			status=0
			wait "$mapmesh_pid" || status=$?
			why="exit status $status"
		fi
		mapmesh_reason="did not start ($why); last log line: $(tail -n 1 "$work/mapmesh.log")"
	fi
fi

port=$(free_port)
spawn "$work/moto.log" moto_server -H 127.0.0.1 -p "$port"
moto_pid=$spawned
wait_port "$moto_pid" "$port" 60 || {
	log "moto_server did not start:"
	cat "$work/moto.log" >&2
	exit 1
}
moto_url="http://127.0.0.1:$port"
log "moto pid $moto_pid on $moto_url"

# seed URL: the same data on every server.
seed() {
	"$load" seed -endpoint "$1" -namespace bench -service svc100 -instances 100 &&
		"$load" seed -endpoint "$1" -namespace bench -service svc1000 -instances 1000 &&
		"$load" seed -endpoint "$1" -namespace bench -service svcreg -instances 0
}
seed "$moto_url"
if [[ -n $mapmesh_url ]] && ! seed "$mapmesh_url" 2>"$work/mapmesh-seed.log"; then
	mapmesh_reason="seed failed: $(tail -n 1 "$work/mapmesh-seed.log")"
	mapmesh_url=""
	stop "$mapmesh_pid"
fi
[[ -z $mapmesh_reason ]] || log "mapmesh not available: $mapmesh_reason"

# measure NAME URL PID SCENARIO ARGS...: one measured run, result in $work/NAME.json.
# A failed run leaves no result; the report shows it as missing.
measure() {
	local name=$1 url=$2 pid=$3 scenario=$4
	shift 4
	log "== $name"
	"$load" "$scenario" -endpoint "$url" -namespace bench -c "$conc" -n "$count" \
		-duration "$duration" -warmup "$warmup" -server-pid "$pid" -json "$@" \
		>"$work/$name.json" || {
		log "$name failed"
		rm -f "$work/$name.json"
	}
}

# stub_run N: the stub, answering with the DiscoverInstances(N instances) body
# of the server under test: mapmesh's when it ran, else moto's.
stub_run() {
	local n=$1 source body port stub_pid
	for source in mapmesh moto; do
		body=$work/$source-$n.body
		[[ -f $body ]] && break
	done
	[[ -f $body ]] || return 0
	echo "$source" >"$work/stub-discover$n.source"
	port=$(free_port)
	spawn "$work/stub-$n.log" "$load" stub -listen "127.0.0.1:$port" -body-file "$body"
	stub_pid=$spawned
	if wait_port "$stub_pid" "$port" 10; then
		measure "stub-discover$n" "http://127.0.0.1:$port" "$stub_pid" discover -service "svc$n"
	else
		log "stub did not start: $(cat "$work/stub-$n.log")"
	fi
	stop "$stub_pid"
}

# Runs of one operation go back to back, so that each comparison sees the
# same background load on this shared machine.
for n in 100 1000; do
	measure "moto-discover$n" "$moto_url" "$moto_pid" discover -service "svc$n" -expect "$n" -save-body "$work/moto-$n.body"
	if [[ -n $mapmesh_url ]]; then
		measure "mapmesh-discover$n" "$mapmesh_url" "$mapmesh_pid" discover -service "svc$n" -expect "$n" -save-body "$work/mapmesh-$n.body"
	fi
	stub_run "$n"
done
measure moto-register "$moto_url" "$moto_pid" register -service svcreg
[[ -z $mapmesh_url ]] || measure mapmesh-register "$mapmesh_url" "$mapmesh_pid" register -service svcreg

commit=$(git rev-parse --short HEAD 2>/dev/null || echo uncommitted)
if [[ $commit != uncommitted && -n $(git status --porcelain 2>/dev/null) ]]; then
	commit="$commit (with uncommitted changes)"
fi
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
moto_version=$(python3 -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?')

# The report: read the JSON results, print the summary, and replace the docs section.
BENCH_RESULTS=$work BENCH_DOCS_FILE=$docs BENCH_COMMIT=$commit BENCH_MAPMESH_REASON=$mapmesh_reason \
	BENCH_DATE=$(date -u '+%Y-%m-%d %H:%M UTC') BENCH_NPROC=$(nproc) BENCH_CPU=$cpu \
	BENCH_DATA_FS=$(df --output=fstype "$work" | tail -n 1) \
	BENCH_LOADAVG="$loadavg_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end" \
	BENCH_SETTINGS="c=$conc, each run bounded by $duration or $count requests after a $warmup warm-up" \
	BENCH_VERSIONS="$(go env GOVERSION), moto $moto_version" \
	python3 - <<'PY'
import json, os, sys

env = os.environ
res = {}
for name in os.listdir(env["BENCH_RESULTS"]):
    if name.endswith(".json"):
        with open(os.path.join(env["BENCH_RESULTS"], name)) as f:
            res[name[:-5]] = json.load(f)

def get(name, key):
    r = res.get(name)
    if r is None:
        return None
    if key == "p50" or key == "p99":
        return r["latency"][key + "_ms"]
    return r.get(key)

def fmt(v, spec):
    return "–" if v is None else format(v, spec)

def ratio(a, b):
    """How many times a's req/s is b's."""
    ra, rb = get(a, "req_per_s"), get(b, "req_per_s")
    return ra / rb if ra and rb else None

def cpu_ratio(a, b):
    """How many times less server CPU per request a needs than b."""
    ca, cb = get(a, "server_cpu_us_per_req"), get(b, "server_cpu_us_per_req")
    return cb / ca if ca and cb else None

reason = env.get("BENCH_MAPMESH_REASON", "")
rows = []
for label, scen in [("DiscoverInstances, 100 instances", "discover100"),
                    ("DiscoverInstances, 1,000 instances", "discover1000"),
                    ("RegisterInstance", "register")]:
    for server in ["moto", "mapmesh", "stub"]:
        name = f"{server}-{scen}"
        if server == "stub" and scen == "register":
            continue
        shown = server
        if server == "stub":
            try:
                with open(os.path.join(env["BENCH_RESULTS"], name + ".source")) as f:
                    shown = f"stub ({f.read().strip()}'s answer)"
            except OSError:
                pass
        if name not in res:
            note = "not available" if server == "mapmesh" and reason else "no result"
            rows.append(f"| {label} | {shown} | {note} | | | | | | |")
            continue
        errs = sum(res[name]["errors"].values())
        moto = f"moto-{scen}"
        rows.append("| {} | {} | {} | {}x | {} | {} | {} | {}x | {} |".format(
            label, shown, fmt(get(name, "req_per_s"), ",.0f"), fmt(ratio(name, moto), ".1f"),
            fmt(get(name, "p50"), ".2f"), fmt(get(name, "p99"), ".2f"),
            fmt(get(name, "server_cpu_us_per_req"), ",.0f"), fmt(cpu_ratio(name, moto), ".1f"), errs))

def target(text, scen, want, p99_max=None):
    ceiling = ratio(f"stub-{scen}", f"moto-{scen}")
    tail = f"; client-bound ceiling here is {ceiling:.0f}x" if ceiling else ""
    if f"mapmesh-{scen}" not in res:
        why = f"mapmesh not available ({reason})" if reason else "no mapmesh result"
        return f"- {text}: **not measured**, {why}{tail}.", False
    r = ratio(f"mapmesh-{scen}", f"moto-{scen}")
    p99 = get(f"mapmesh-{scen}", "p99")
    errs = sum(res[f"mapmesh-{scen}"]["errors"].values())
    ok = r is not None and r >= want and (p99_max is None or p99 <= p99_max) and errs == 0
    got = f"{get(f'mapmesh-{scen}', 'req_per_s'):,.0f} req/s = {fmt(r, '.1f')}x moto, p99 {p99:.2f} ms"
    got += f" (server CPU per request: {fmt(cpu_ratio(f'mapmesh-{scen}', f'moto-{scen}'), '.0f')}x less than moto)"
    if errs:
        got += f", {errs} errors"
    return f"- {text}: **{'met' if ok else 'not met'}**, measured {got}{tail}.", ok

targets = [
    target("DiscoverInstances (100 instances, c=8) at least 35x moto with p99 at most 5 ms", "discover100", 35, 5.0),
    target("DiscoverInstances (1,000 instances) at least 40x moto", "discover1000", 40),
    target("RegisterInstance (c=8) at least 15x moto", "register", 15),
]

section = "\n".join([
    "## Cloud Map API: mapmesh against moto",
    "",
    "Written by `test/bench/cloudmap.sh` (run it to refresh this section); do not edit by hand.",
    "",
    f"- Date: {env['BENCH_DATE']}",
    f"- Machine: {env['BENCH_NPROC']} CPUs, {env['BENCH_CPU']}; client and servers share them;"
    f" mapmesh's data dir on {env['BENCH_DATA_FS']}; load average {env['BENCH_LOADAVG']}",
    f"- Commit: {env['BENCH_COMMIT']}",
    f"- Client: mapmesh-load, keep-alive HTTP/1.1, SigV4-signed, {env['BENCH_SETTINGS']}",
    f"- Versions: {env['BENCH_VERSIONS']}",
    "",
    "| Operation | Server | req/s | req/s vs moto | p50 ms | p99 ms | server CPU µs/req | CPU/req, moto ÷ this | errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    *rows,
    "",
    "Targets:",
    "",
    *[t for t, _ in targets],
    "",
    "Server CPU per request comes from /proc/PID/stat over the measured window; on this shared",
    "machine it is steadier than req/s. moto (werkzeug) closes the connection after every answer,",
    "so its runs also pay a TCP connect per request. The stub does no work and returns the same",
    "bytes, so its row is the most this client can do here. mapmesh runs with its instance quotas",
    "raised (AWS allows 1,000 per service), so that every RegisterInstance adds a new instance, as",
    "on moto; each one is committed to disk before the answer.",
])

print()
print(section)

out = env.get("BENCH_DOCS_FILE", "")
if out:
    begin, end = "<!-- cloudmap-api:begin -->", "<!-- cloudmap-api:end -->"
    text = open(out).read() if os.path.exists(out) else "# Benchmarks\n\n"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        f.write(f"{head}{begin}\n{section}\n{end}{tail}")
    print(f"\nwrote {out}", file=sys.stderr)

if env.get("BENCH_STRICT") == "1" and not all(ok for _, ok in targets):
    sys.exit(1)
PY
