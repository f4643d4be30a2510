#!/usr/bin/env bash
# Times the default run (README "How long"): a fresh `mdsm train` with every default
# (embedded MNIST subset, the default preset and its steps, periodic sample grids), and prints
# its wall time, average images/s (metrics.jsonl), peak RSS and final normalised loss.
#
# Usage: bench/default_run.sh [EXTRA TRAIN FLAGS...]
#   e.g. bench/default_run.sh --sample-every 0        (the same run without sample grids)
#        bench/default_run.sh --steps 1500             (a shorter look)
# Environment:
#   BASE=REV  also build mdsm at git revision REV and run it first, in the same session
#             (before/after on the same machine: the 1.6x target of issue 12)
#   KEEP=DIR  keep the run directories there (DIR/run0, DIR/run1) to sample and score them:
#             mdsm score DIR/run0 --n 256 (docs/QUALITY.md, "The default run")
#   MDSM_ISA, MDSM_CONV, GOMAXPROCS  passed through
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/mdsm" ./cmd/mdsm
bins=("$out/mdsm")
names=(after)
if [ -n "${BASE:-}" ]; then
	mkdir "$out/base"
	git archive "$BASE" | tar -x -C "$out/base"
	(cd "$out/base" && go build -o "$out/mdsm-base" ./cmd/mdsm)
	bins=("$out/mdsm-base" "$out/mdsm")
	names=("before ($BASE)" after)
fi
echo "$(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), flags: $*"
for i in "${!bins[@]}"; do
	run="${KEEP:-$out}/run$i"
	/usr/bin/time -f "%e %M" -o "$out/time$i" "${bins[$i]}" train --run-dir "$run" --quiet "$@" >/dev/null
	read -r wall rss <"$out/time$i"
	/usr/bin/python3 - "${names[$i]}" "$wall" "$rss" "$run" <<'PY'
import glob, json, os, sys
name, wall, rss, run = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
recs = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl")) if l.strip()]
last = recs[-1]
batch = json.load(open(os.path.join(run, "config.json")))["batch_size"]
grids = sorted(os.path.basename(p) for p in glob.glob(os.path.join(run, "samples", "step-*.png")))
print(f"{name}: {last['step']} steps in {wall:.0f} s wall ({int(wall)//60} min {int(wall)%60} s), "
      f"{last['step'] * batch / wall:.0f} images/s over the wall time, "
      f"peak RSS {rss/1024:.0f} MiB, final normalised loss {last['norm_loss']:.1f}, grids {grids}")
PY
done
