#!/usr/bin/env bash
# The GPU verification of mdsm, in one run (about 6 minutes on an H200; no Go needed; every
# step has a time limit and the whole script stops starting steps after 7.5 minutes):
#   1. gpu.test: the GPU against the CPU engine in float64 for E, dE/dx, the loss and the
#      MDSM weight gradient of paper-mnist and paper-cifar on a fixed batch (relative error
#      <= 1e-4); bit-for-bit repeatability of training steps on the card; training steps
#      replayed as CUDA graphs equal to the same steps launched one by one; the device's
#      counter-based noise against its Go twin; Langevin chains on the GPU against the same
#      chains stepped on the host and against the CPU engine's chains, graphs off and on;
#      the data-parallel exchange (NCCL all-to-all, add_chunks, all-gather) on one rank
#      against LossGrad, bit for bit;
#   2. 300 steps of the small preset on the GPU and on the CPU from the same seed: the two
#      loss curves side by side;
#   3. on-device sampling: mdsm sample of that run on the GPU (graphs off and on) and on the
#      CPU from the same seed: the samples compared (the grid PNGs go to $OUT for a look);
#   4. the speed table: mdsm bench --device cuda with CUDA graphs off and on, against
#      PyTorch's torch_mdsm_gpu.py on the same card (four cases), with peak GPU memory, and
#      the small preset's steps, where launches dominate;
#   5. NCCL on the card: one rank's communicator and collectives on device buffers
#      (dist.test; skipped when no libnccl.so.2 is found, e.g. without pip's nvidia-nccl).
# Build the binaries first, on any machine with Go: scripts/build_gpu_carry.sh, then carry
# .gpucheck/ (the device tool: carry [".gpucheck"]). Logs go to $OUT (default ./gpucheck-out).
# MDSM_CHECK_DEVICE=cpu rehearses the script's plumbing on a machine without a GPU;
# PYTHON names the Python with numpy and torch (default python3: on the lent GPU machine,
# the one of its PyTorch environment).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.gpucheck
out=${OUT:-gpucheck-out}
dev=${MDSM_CHECK_DEVICE:-cuda}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MDSM_KERNEL_CACHE="$work/kernels"
status=0
budget=${MDSM_CHECK_BUDGET:-450} # seconds after which no new step starts
step() { echo; echo "== $*  [$SECONDS s]"; }
# limit N: a step's time limit, N seconds or what is left of the budget (at least 10)
limit() { local left=$((budget - SECONDS)); [ $left -lt 10 ] && left=10; [ "$1" -lt $left ] && echo "$1" || echo $left; }
late() { if [ $SECONDS -ge $budget ]; then echo "SKIPPED: the ${budget} s budget is spent"; status=1; return 0; fi; return 1; }
req=1
[ "$dev" = cpu ] && req=0
py=${PYTHON:-python3}

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu --format=csv 2>&1 | head -3 || true
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 || true

step "1. gpu.test: GPU vs CPU float64, repeatability, graphs, noise twin, chains on the GPU, the exchange on one rank"
if ! late; then
	if MDSM_REQUIRE_GPU=$req timeout "$(limit 150)" "$bin/gpu.test" -test.v -test.run 'TestGPU|TestHost|TestFake' >"$out/gpu-test.log" 2>&1; then
		grep -v '^=== RUN' "$out/gpu-test.log" | grep -E '^(--- |    ---|ok|PASS|FAIL)|relative (error|difference)|differ|no GPU|no NCCL|graph' |
			grep -v -E '^ *--- PASS: Test(Host|Fake)'
	else
		status=1
		tail -40 "$out/gpu-test.log"
		echo "FAILED: gpu.test (log: $out/gpu-test.log)"
	fi
fi

step "2. 300 steps of the small preset, $dev and cpu, same seed"
devices="$dev cpu"
[ "$dev" = cpu ] && devices=cpu
for d in $devices; do
	late && break
	/usr/bin/time -f "$d: %e s wall, %M KiB max RSS" timeout "$(limit 90)" "$bin/mdsm" train --device "$d" --steps 300 --seed 7 \
		--sample-every 0 --log-every 10 --checkpoint-every 300 --run-dir "$work/run-$d" --quiet >"$out/train-$d.log" 2>&1 \
		|| { status=1; echo "FAILED: train on $d"; tail -5 "$out/train-$d.log"; }
	tail -1 "$out/train-$d.log"
done
cp "$work/run-$dev/metrics.jsonl" "$out/metrics-$dev.jsonl" 2>/dev/null
cp "$work/run-cpu/metrics.jsonl" "$out/metrics-cpu.jsonl" 2>/dev/null
"$py" - "$out/metrics-$dev.jsonl" "$out/metrics-cpu.jsonl" "$dev" <<'PY' || status=1
import json, sys
a = {r["step"]: r for r in map(json.loads, open(sys.argv[1]))}
b = {r["step"]: r for r in map(json.loads, open(sys.argv[2]))}
print(f"{'step':>5} {sys.argv[3]+' norm_loss':>16} {'cpu norm_loss':>14} {'rel diff':>9}")
for s in sorted(set(a) & set(b)):
    if s % 50 == 0 or s == 10:
        x, y = a[s]["norm_loss"], b[s]["norm_loss"]
        print(f"{s:5d} {x:16.4f} {y:14.4f} {abs(x-y)/abs(y):9.2%}")
tail = [s for s in sorted(set(a) & set(b)) if s > 250]
ma = sum(a[s]["norm_loss"] for s in tail) / len(tail)
mb = sum(b[s]["norm_loss"] for s in tail) / len(tail)
print(f"mean norm_loss over steps 260-300: {ma:.4f} vs {mb:.4f} ({abs(ma-mb)/mb:.1%} apart)")
print(f"speed: {a[300]['images_per_s']:.0f} vs {b[300]['images_per_s']:.0f} images/s")
PY

step "3. on-device sampling: mdsm sample on $dev (graphs off, on) and on cpu, same seed"
variants="$dev-g0 $dev-g1 cpu"
[ "$dev" = cpu ] && variants="cpu-g0 cpu"
for v in $variants; do
	late && break
	d=${v%-g*}
	g=0
	[ "$v" = "$dev-g1" ] && g=1
	MDSM_CUDA_GRAPHS=$g /usr/bin/time -f "$v: %e s wall" timeout "$(limit 90)" "$bin/mdsm" sample "$work/run-$dev" --device "$d" \
		--n 64 --seed 3 --out "$work/sample-$v" >"$out/sample-$v.log" 2>&1 || { status=1; echo "FAILED: sample on $v"; tail -3 "$out/sample-$v.log"; }
	tail -1 "$out/sample-$v.log"
	cp "$work/sample-$v.png" "$out/" 2>/dev/null
done
"$py" - "$work" "$dev" <<'PY' || status=1
import sys
import numpy as np
w, dev = sys.argv[1], sys.argv[2]
import os
def load(v):
    try:
        return np.load(f"{w}/sample-{v}.npy").astype(np.float64)
    except OSError as e:
        print(f"no samples from {v}: {e}")
        return None
c = load("cpu")
variants = [v for v in (f"{dev}-g0", f"{dev}-g1") if os.path.exists(f"{w}/sample-{v}.npy") or dev != "cpu"]
for v in variants:
    g = load(v)
    if g is None or c is None:
        continue
    rel = np.linalg.norm(g - c) / np.linalg.norm(c)
    print(f"{v} vs cpu: {g.shape[0]} samples, relative L2 difference {rel:.2e}, max |diff| {np.abs(g - c).max():.2e}, "
          f"means {g.mean():.4f} vs {c.mean():.4f}")
a, b = (load(variants[0]), load(variants[1])) if len(variants) == 2 else (None, None)
if a is not None and b is not None:
    print(f"graphs on vs off: {'bit for bit' if np.array_equal(a, b) else f'max |diff| {np.abs(a - b).max():.2e}'}")
PY
ls "$out"/sample-*.png 2>/dev/null

step "4. speed: mdsm bench --device $dev (graphs off, on) vs PyTorch (torch_mdsm_gpu.py --device $dev)"
steps=20
[ "$dev" = cpu ] && steps=1
cases=paper-mnist-b128,paper-cifar-b128,langevin-b64,sample-64x2700,small,small-langevin
[ "$dev" = cpu ] && cases=langevin-b64
for g in 0 1; do
	late && break
	MDSM_CUDA_GRAPHS=$g timeout "$(limit 120)" "$bin/mdsm" bench --device "$dev" --json --config "$cases" --steps "$steps" --warmup 2 \
		>"$out/bench-mdsm-g$g.jsonl" 2>"$out/bench-mdsm-g$g.err" || { status=1; echo "FAILED: mdsm bench (graphs $g)"; tail -5 "$out/bench-mdsm-g$g.err"; }
done
if [ -f "$bin/torch/torch_mdsm_gpu.py" ] && ! late; then
	tcase=all
	[ "$dev" = cpu ] && tcase=langevin-b64
	PYTHONUNBUFFERED=1 timeout "$(limit 120)" "$py" "$bin/torch/torch_mdsm_gpu.py" --device "$dev" --case "$tcase" --steps "$steps" \
		>"$out/bench-torch.jsonl" 2>"$out/bench-torch.err" || { status=1; echo "FAILED: torch bench"; tail -5 "$out/bench-torch.err"; }
fi
"$py" - "$out/bench-mdsm-g0.jsonl" "$out/bench-mdsm-g1.jsonl" "$out/bench-torch.jsonl" <<'PY'
import json, sys
def load(p):
    try:
        return {(r.get("name") or r.get("case")): r for r in (json.loads(l) for l in open(p) if l.strip())}
    except FileNotFoundError:
        return {}
g0, g1, t = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
print("| case | mdsm s (graphs off) | mdsm s (graphs on) | on/off | PyTorch s | mdsm/PyTorch | mdsm GPU MiB | PyTorch GPU MiB | memory ratio | graphs |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n in dict.fromkeys(list(g0) + list(g1)):
    a, b, p = g0.get(n, {}), g1.get(n, {}), t.get(n, {})
    sa, sb, ts = a.get("median_s"), b.get("median_s"), p.get("median_s")
    best = min(x for x in (sa, sb) if x) if (sa or sb) else None
    f = lambda x, d=4: f"{x:.{d}f}" if x else "-"
    onoff = f"{sb/sa:.2f}" if sa and sb else "-"
    ratio = f"{best/ts:.2f}" if best and ts else "-"
    mem = a.get("peak_gpu_mib") or b.get("peak_gpu_mib")
    tm = p.get("peak_mib")
    mratio = f"{mem/tm:.2f}" if mem and tm else "-"
    print(f"| {n} | {f(sa)} | {f(sb)} | {onoff} | {f(ts)} | {ratio} | {f(mem, 0)} | {tm if tm else '-'} | {mratio} | {b.get('graphs', '-')} |")
PY

step "5. NCCL on $dev: communicator, all-reduce, all-gather, broadcast, all-to-all of device buffers"
if [ -x "$bin/dist.test" ] && ! late; then
	if MDSM_REQUIRE_GPU=$req timeout "$(limit 60)" "$bin/dist.test" -test.v -test.run 'TestNCCLOnGPU' >"$out/nccl-test.log" 2>&1; then
		grep -E '^(--- |ok|PASS|FAIL)|NCCL|no GPU|no NCCL' "$out/nccl-test.log"
	else
		status=1
		tail -20 "$out/nccl-test.log"
		echo "FAILED: dist.test (log: $out/nccl-test.log)"
	fi
elif [ ! -x "$bin/dist.test" ]; then
	echo "no $bin/dist.test: rebuild with scripts/build_gpu_carry.sh"
fi

echo
echo "total: $SECONDS s"
if [ $status -eq 0 ]; then echo "gpu_check: all steps ran"; else echo "gpu_check: FAILURES above"; fi
exit $status
