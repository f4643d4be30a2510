#!/usr/bin/env bash
# Runs mdsm's benchmarks and their PyTorch twins side by side, case by case (interleaved so
# that machine noise hits both alike), and prints the time and memory ratios Go / PyTorch.
# Needs Debian's python3-torch (apt-get install -y python3-torch).
# Usage: bench/compare.sh [CASES] [THREADS] [STEPS]   e.g. bench/compare.sh small,tiny 2 5
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-small,small-langevin,medium,tiny,paper-b32,langevin,paper}
threads=${2:-2}
steps=${3:-5}
go build -o /tmp/mdsm-bench ./cmd/mdsm
out=$(mktemp -d)
for c in ${cases//,/ }; do
	GOMAXPROCS=$threads /tmp/mdsm-bench bench --json --config "$c" --threads "$threads" --steps "$steps" >>"$out/go.jsonl"
	/usr/bin/python3 bench/torch_presets.py --config "$c" --threads "$threads" --steps "$steps" >>"$out/torch.jsonl"
done
/usr/bin/python3 - "$out/go.jsonl" "$out/torch.jsonl" <<'PY'
import json, sys
go = {r["name"]: r for r in map(json.loads, open(sys.argv[1]))}
th = {r["name"]: r for r in map(json.loads, open(sys.argv[2]))}
print(f"| case | batch | Go s/step | PyTorch s/step | time ratio Go/PyTorch | Go RSS MiB | PyTorch RSS MiB | RSS ratio | Go GFLOP/s |")
print("|---|---|---|---|---|---|---|---|---|")
for n, g in go.items():
    t = th.get(n)
    if not t:
        continue
    print(f"| {n} | {g['batch']} | {g['median_s']:.4f} | {t['median_s']:.4f} | {g['median_s']/t['median_s']:.2f} | "
          f"{g['peak_rss_mib']:.0f} | {t['peak_rss_mib']:.0f} | {g['peak_rss_mib']/t['peak_rss_mib']:.2f} | {g['gflop_per_s']:.1f} |")
PY
