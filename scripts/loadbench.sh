#!/usr/bin/env bash
# loadbench.sh — REST and gRPC load benchmarks over a real loopback listener (called by `make bench`).
# Runs BenchmarkLoadRESTNernst, BenchmarkLoadRESTSimulate and BenchmarkLoadGRPCNernst COUNT times for BENCHTIME
# each, BenchmarkLoadMixed1000 (1000 connections of /health, /nernst and small /simulate against the
# default config; goal 0 % errors) COUNT times for MIXN requests, and BenchmarkServerCPU (the release
# binary as its own process, so server and client CPU per request come apart) COUNT times for BENCHTIME,
# and prints every run plus the median req/s, p50 and p99 latency (and error / 503 shares) per benchmark.
# Targets on a 2-core box: /nernst >= 25000 req/s with p99 < 20 ms; /simulate >= 4500 req/s;
# ComputeNernst over gRPC >= 20000 req/s; server CPU per /nernst <= 20 µs, per ComputeNernst <= 25 µs.
# Usage: scripts/loadbench.sh [extra go test flags]   (env: BENCHTIME=3s COUNT=5 MIXN=40000)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-3s}
COUNT=${COUNT:-5}
MIXN=${MIXN:-40000}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench '^BenchmarkLoad(REST|GRPC)' -benchtime "$BENCHTIME" -count "$COUNT" -timeout 10m "$@" ./server/ ./server/grpcapi/ | tee "$out"
go test -run '^$' -bench '^BenchmarkLoadMixed1000$' -benchtime "${MIXN}x" -count "$COUNT" -timeout 10m "$@" . | tee -a "$out"
go test -run '^$' -bench '^BenchmarkServerCPU$' -benchtime "$BENCHTIME" -count "$COUNT" -timeout 10m "$@" . | tee -a "$out"
echo
echo "medians over $COUNT runs (benchtime $BENCHTIME):"
awk '
/^Benchmark(Load(REST|GRPC|Mixed)|ServerCPU)/ {
  name=$1; sub(/-[0-9]+$/, "", name)
  for (i = 3; i < NF; i++) {
    if ($(i+1) == "req/s")  rps[name] = rps[name] " " $i
    if ($(i+1) == "p50_ms") p50[name] = p50[name] " " $i
    if ($(i+1) == "p99_ms") p99[name] = p99[name] " " $i
    if ($(i+1) == "cpu_us/req") cpu[name] = cpu[name] " " $i
    if ($(i+1) == "server_cpu_us/req") scpu[name] = scpu[name] " " $i
    if ($(i+1) == "client_cpu_us/req") ccpu[name] = ccpu[name] " " $i
    if ($(i+1) == "err_%")  errs[name] = errs[name] " " $i
    if ($(i+1) == "503_%")  busy[name] = busy[name] " " $i
  }
}
function median(s,   a, n, i, j, t) {
  n = split(s, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
  for (n in rps) {
    if (n in scpu) printf "%-28s %10.0f req/s   p50 %6.2f ms   p99 %6.2f ms   %7.1f µs server CPU/req   %7.1f µs client CPU/req (idle-2-core capacity %6.0f req/s)\n", n, median(rps[n]), median(p50[n]), median(p99[n]), median(scpu[n]), median(ccpu[n]), 2e6 / (median(scpu[n]) + median(ccpu[n]))
    else if (n in cpu) printf "%-28s %10.0f req/s   p50 %6.2f ms   p99 %6.2f ms   %7.1f µs CPU/req (server+client; idle-2-core capacity %6.0f req/s)\n", n, median(rps[n]), median(p50[n]), median(p99[n]), median(cpu[n]), 2e6 / median(cpu[n])
    else printf "%-28s %10.0f req/s   p50 %6.2f ms   p99 %6.2f ms   errors %.3f %%   503 %.3f %%\n", n, median(rps[n]), median(p50[n]), median(p99[n]), median(errs[n]), median(busy[n])
  }
}
' "$out"
