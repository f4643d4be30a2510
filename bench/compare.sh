#!/usr/bin/env bash
# Runs mdsm's benchmarks and their PyTorch twins side by side, case by case (interleaved so
# that machine noise hits both alike), and prints the time and memory ratios Go / PyTorch.
# Needs Debian's python3-torch (apt-get install -y python3-torch).
#
# Usage: bench/compare.sh [CASES] [THREADS] [STEPS] [ISA] [ROUNDS]
#   e.g. bench/compare.sh small,tiny 2 5 avx2 3
#   ISA     native (default): each side's best kernels; avx2: mdsm with MDSM_ISA=avx2 and
#           PyTorch with ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 (an AVX-512
#           machine measuring what an AVX2 one runs)
#   ROUNDS  interleaved rounds (default 1); the table shows the median ratio and its range
# Environment:
#   BASE=REV  also build mdsm at git revision REV and time it in the same rounds: the
#             "before" columns and the speed-up after/before, measured in one session
#   MDSM_CONV passed to mdsm (e.g. direct to time the direct convolutions)
#   METRIC=cpu  compare the process CPU time per step (user + system, all threads) instead of
#             the wall time: the steadier measure on a machine shared with other work (with
#             THREADS 1 it is the single-core speed; with more it ignores parallel scaling)
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-small,small-langevin,medium,tiny,paper-b32,langevin,paper}
threads=${2:-2}
steps=${3:-5}
isa=${4:-native}
rounds=${5:-1}
metric=${METRIC:-wall}
case $metric in
wall | cpu) ;;
*)
	echo "METRIC must be wall or cpu, not $metric" >&2
	exit 2
	;;
esac
goenv=() pyenv=()
case $isa in
native) ;;
avx2)
	goenv=(MDSM_ISA=avx2)
	pyenv=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2)
	;;
*)
	echo "ISA must be native or avx2, not $isa" >&2
	exit 2
	;;
esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/mdsm" ./cmd/mdsm
if [ -n "${BASE:-}" ]; then
	mkdir "$out/base"
	git archive "$BASE" | tar -x -C "$out/base"
	(cd "$out/base" && go build -o "$out/mdsm-base" ./cmd/mdsm)
fi
# Drop the fresh binaries from the page cache. Straight from the linker their pages map in
# larger pieces: measured, up to 5 MiB more file-backed RSS (the tiny case: 13 MiB against 8-9
# once the file has been read back from disk), which would count the binary's size, not the
# engine's memory, and more for the bigger binary.
/usr/bin/python3 - "$out"/mdsm* <<'PY'
import os, sys
os.sync()
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
for r in $(seq "$rounds"); do
	for c in ${cases//,/ }; do
		if [ -n "${BASE:-}" ]; then
			env "${goenv[@]}" GOMAXPROCS="$threads" "$out/mdsm-base" bench --json --config "$c" --threads "$threads" --steps "$steps" |
				sed "s/^{/{\"round\": $r, /" >>"$out/base.jsonl"
		fi
		env "${goenv[@]}" GOMAXPROCS="$threads" "$out/mdsm" bench --json --config "$c" --threads "$threads" --steps "$steps" |
			sed "s/^{/{\"round\": $r, /" >>"$out/go.jsonl"
		env "${pyenv[@]}" /usr/bin/python3 bench/torch_presets.py --config "$c" --threads "$threads" --steps "$steps" |
			sed "s/^{/{\"round\": $r, /" >>"$out/torch.jsonl"
	done
done
touch "$out/base.jsonl"
echo "ISA $isa, $threads threads, $steps timed steps, $rounds round(s), $metric time; $(date -u +%FT%TZ)"
/usr/bin/python3 - "$out/go.jsonl" "$out/torch.jsonl" "$out/base.jsonl" "$metric" <<'PY'
import collections, json, statistics, sys

def load(path):
    runs = collections.defaultdict(dict)
    for line in open(path):
        r = json.loads(line)
        runs[r["name"]][r["round"]] = r
    return runs

go, th, base = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
key = {"wall": "median_s", "cpu": "median_cpu_s"}[sys.argv[4]]
hdr = "| case | batch | Go s/step | PyTorch s/step | time ratio Go/PyTorch, median (range) | Go RSS MiB | PyTorch RSS MiB | RSS ratio | Go GFLOP/s |"
sep = "|---|---|---|---|---|---|---|---|---|"
if base:
    hdr += " before s/step | after/before speed-up, median (range) | before RSS MiB |"
    sep += "---|---|---|"
print(hdr)
print(sep)
for name, rounds in go.items():
    if name not in th:
        continue
    ratios = sorted((g[key] / th[name][r][key], r) for r, g in rounds.items() if r in th[name])
    mid = ratios[(len(ratios) - 1) // 2][1]
    g, t = rounds[mid], th[name][mid]
    row = (f"| {name} | {g['batch']} | {g[key]:.4f} | {t[key]:.4f} | "
           f"**{g[key]/t[key]:.2f}** ({ratios[0][0]:.2f}-{ratios[-1][0]:.2f}) | "
           f"{g['peak_rss_mib']:.0f} | {t['peak_rss_mib']:.0f} | {g['peak_rss_mib']/t['peak_rss_mib']:.2f} | {g['gflop_per_s'] * g['median_s'] / g[key]:.1f} |")
    if base and name in base and all(key in b2 for b2 in base[name].values()):
        sp = sorted(base[name][r][key] / g2[key] for r, g2 in rounds.items() if r in base[name])
        b = base[name].get(mid, next(iter(base[name].values())))
        row += f" {b[key]:.4f} | {statistics.median(sp):.2f} ({sp[0]:.2f}-{sp[-1]:.2f}) | {b['peak_rss_mib']:.0f} |"
    print(row)
PY
