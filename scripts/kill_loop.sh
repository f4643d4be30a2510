#!/usr/bin/env bash
# kill_loop.sh [KILLS] [MAX_DELAY_S]: crash-safety soak test of `mdsm train`.
#
# Builds mdsm, starts a tiny run that checkpoints every 2 steps and logs every step, and
# KILLS times (default 100) SIGKILLs it after a random delay of 0..MAX_DELAY_S seconds
# (default 1.5: some kills land in start-up, some in checkpoint writes), then restarts it
# with --resume. After every kill scripts/checkrun must find the run resumable (newest
# checkpoint loads, finite weights, every complete metrics line parses). At the end the run
# is resumed to completion and metrics.jsonl must hold exactly steps 1..N. Prints a summary;
# exits 1 if any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-100}
maxdelay=${2:-1.5}
work=$(mktemp -d /tmp/mdsm-kill-loop.XXXXXX)
run=$work/run
go build -o "$work/mdsm" ./cmd/mdsm
go build -o "$work/checkrun" ./scripts/checkrun
args=(--preset tiny --batch 8 --checkpoint-every 2 --log-every 1 --steps 100000000 --data embedded
	--sample-every 0 --threads 1 --quiet)

prev=0 failures=0 nockpt=0 midwrite=0 skipped=0 early=0 regress=0 stalled=0
for ((i = 1; i <= kills; i++)); do
	if [ -f "$run/config.json" ]; then
		"$work/mdsm" train --resume "$run" --threads 1 --quiet 2>>"$work/train.log" &
	else
		"$work/mdsm" train --run-dir "$run" "${args[@]}" 2>>"$work/train.log" &
	fi
	pid=$!
	sleep "$(awk -v r="$RANDOM" -v m="$maxdelay" 'BEGIN { printf "%.3f", r / 32767 * m }')"
	kill -KILL "$pid" 2>/dev/null || true
	code=0
	wait "$pid" 2>/dev/null || code=$?
	if [ "$code" -ne 137 ]; then
		early=$((early + 1))
		echo "kill $i: mdsm had exited with status $code before the kill (see $work/train.log)"
	fi
	if compgen -G "$run/checkpoints/.*.tmp-*" >/dev/null; then
		midwrite=$((midwrite + 1))
	fi
	if [ ! -f "$run/config.json" ]; then
		nockpt=$((nockpt + 1)) # killed before the run directory existed
		continue
	fi
	if ! out=$("$work/checkrun" "$run" 2>>"$work/checkrun.log"); then
		failures=$((failures + 1))
		echo "kill $i: NOT RESUMABLE: $out"
		continue
	fi
	step=${out#step=}
	step=${step%% *}
	s=${out#*skipped=}
	skipped=$((skipped + ${s%% *}))
	if [ "$step" -eq 0 ]; then nockpt=$((nockpt + 1)); fi
	if [ "$step" -lt "$prev" ]; then
		regress=$((regress + 1))
		echo "kill $i: newest checkpoint went back from step $prev to $step"
	elif [ "$step" -eq "$prev" ]; then
		stalled=$((stalled + 1)) # killed before the session's first checkpoint
	fi
	prev=$step
done

final=$((prev + 5))
if ! "$work/mdsm" train --resume "$run" --steps "$final" --threads 1 --quiet 2>>"$work/train.log"; then
	failures=$((failures + 1))
	echo "final resume failed (see $work/train.log)"
elif ! out=$("$work/checkrun" --contiguous "$run"); then
	failures=$((failures + 1))
	echo "after the final resume: $out"
else
	echo "final resume: $out"
fi

echo "kill_loop: $kills SIGKILLs (delay 0..${maxdelay}s); not resumable: $failures; damaged checkpoints skipped: $skipped;" \
	"kills during a checkpoint write: $midwrite; before any checkpoint: $nockpt; sessions without a new checkpoint: $stalled;" \
	"checkpoint step went back: $regress; exited before the kill: $early; last checkpoint step: $prev (work dir $work)"
[ "$failures" -eq 0 ] && [ "$regress" -eq 0 ] && [ "$early" -eq 0 ]
