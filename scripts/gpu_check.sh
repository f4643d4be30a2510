#!/usr/bin/env bash
# The GPU verification of mdsm, in one run (about 5 minutes on an H200; no Go needed):
#   1. GPU against the CPU engine in float64 for E, dE/dx, the loss and the MDSM weight
#      gradient of paper-mnist and paper-cifar on a fixed batch (relative error <= 1e-4),
#      and bit-for-bit repeatability of training steps on the card (gpu.test);
#   2. 300 steps of the small preset on the GPU and on the CPU from the same seed: the two
#      loss curves side by side;
#   3. mdsm sample on the GPU (the grid PNG is written to $OUT for a look);
#   4. the speed table: mdsm bench --device cuda against PyTorch's torch_mdsm_gpu.py on the
#      same card (four cases), with peak GPU memory;
#   5. NCCL on the card: one rank's communicator and collectives on device buffers
#      (dist.test; skipped when no libnccl.so.2 is found, e.g. without pip's nvidia-nccl).
# Build the binaries first, on any machine with Go: scripts/build_gpu_carry.sh, then carry
# .gpucheck/ (the device tool: carry [".gpucheck"]). Logs go to $OUT (default ./gpucheck-out).
# MDSM_CHECK_DEVICE=cpu rehearses the script's plumbing on a machine without a GPU.
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
step() { echo; echo "== $*"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu --format=csv 2>&1 | head -3 || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 || true

step "1. GPU vs CPU float64 (E, dE/dx, loss, MDSM gradient of paper-mnist and paper-cifar), repeatability"
req=1
[ "$dev" = cpu ] && req=0
if MDSM_REQUIRE_GPU=$req timeout 240 "$bin/gpu.test" -test.v -test.run 'TestGPU|TestHostEngine' >"$out/gpu-test.log" 2>&1; then
	grep -E '^(=== RUN|--- |    ---|ok|PASS|FAIL)|relative error|no GPU' "$out/gpu-test.log" | grep -v '=== RUN'
else
	status=1
	tail -40 "$out/gpu-test.log"
	echo "FAILED: gpu.test (log: $out/gpu-test.log)"
fi

step "2. 300 steps of the small preset, $dev and cpu, same seed"
for d in "$dev" cpu; do
	/usr/bin/time -f "$d: %e s wall, %M KiB max RSS" timeout 180 "$bin/mdsm" train --device "$d" --steps 300 --seed 7 \
		--sample-every 0 --log-every 10 --checkpoint-every 300 --run-dir "$work/run-$d" --quiet >"$out/train-$d.log" 2>&1 \
		|| { status=1; echo "FAILED: train on $d"; tail -5 "$out/train-$d.log"; }
	tail -1 "$out/train-$d.log"
done
cp "$work/run-$dev/metrics.jsonl" "$out/metrics-$dev.jsonl" 2>/dev/null
cp "$work/run-cpu/metrics.jsonl" "$out/metrics-cpu.jsonl" 2>/dev/null
python3 - "$out/metrics-$dev.jsonl" "$out/metrics-cpu.jsonl" "$dev" <<'PY' || status=1
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

step "3. mdsm sample on $dev"
timeout 120 "$bin/mdsm" sample "$work/run-$dev" --device "$dev" --n 64 --out "$work/samples" >"$out/sample.log" 2>&1 \
	|| { status=1; echo "FAILED: sample"; }
tail -3 "$out/sample.log"
cp "$work"/samples*.png "$out/" 2>/dev/null && ls "$out"/*.png

step "4. speed: mdsm bench --device $dev vs PyTorch (torch_mdsm_gpu.py --device $dev)"
steps=20
[ "$dev" = cpu ] && steps=1
cases=paper-mnist-b128,paper-cifar-b128,langevin-b64,sample-64x2700
[ "$dev" = cpu ] && cases=langevin-b64
timeout 240 "$bin/mdsm" bench --device "$dev" --json --config "$cases" --steps "$steps" --warmup 2 >"$out/bench-mdsm.jsonl" 2>"$out/bench-mdsm.err" \
	|| { status=1; echo "FAILED: mdsm bench"; tail -5 "$out/bench-mdsm.err"; }
if [ -f "$bin/torch/torch_mdsm_gpu.py" ]; then
	tcase=all
	[ "$dev" = cpu ] && tcase=langevin-b64
	PYTHONUNBUFFERED=1 timeout 240 python3 "$bin/torch/torch_mdsm_gpu.py" --device "$dev" --case "$tcase" --steps "$steps" \
		>"$out/bench-torch.jsonl" 2>"$out/bench-torch.err" || { status=1; echo "FAILED: torch bench"; tail -5 "$out/bench-torch.err"; }
fi
python3 - "$out/bench-mdsm.jsonl" "$out/bench-torch.jsonl" <<'PY'
import json, sys
def load(p):
    try:
        return {(r.get("name") or r.get("case")): r for r in (json.loads(l) for l in open(p) if l.strip())}
    except FileNotFoundError:
        return {}
g, t = load(sys.argv[1]), load(sys.argv[2])
print(f"| case | mdsm s | PyTorch s | time ratio | mdsm GPU MiB | PyTorch GPU MiB | memory ratio |")
print("|---|---|---|---|---|---|---|")
for n, r in g.items():
    p = t.get(n, {})
    ts, tm = p.get("median_s"), p.get("peak_mib")
    ratio = f"{r['median_s']/ts:.2f}" if ts else "-"
    mratio = f"{r.get('peak_gpu_mib', 0)/tm:.2f}" if tm and r.get('peak_gpu_mib') else "-"
    print(f"| {n} | {r['median_s']:.4f} | {ts if ts else '-'} | {ratio} | {r.get('peak_gpu_mib', 0):.0f} | {tm if tm else '-'} | {mratio} |")
PY

step "5. NCCL on $dev: communicator, all-reduce, all-gather, broadcast of device buffers"
if [ -x "$bin/dist.test" ]; then
	if MDSM_REQUIRE_GPU=$req timeout 120 "$bin/dist.test" -test.v -test.run 'TestNCCLOnGPU' >"$out/nccl-test.log" 2>&1; then
		grep -E '^(--- |ok|PASS|FAIL)|NCCL|no GPU|no NCCL' "$out/nccl-test.log"
	else
		status=1
		tail -20 "$out/nccl-test.log"
		echo "FAILED: dist.test (log: $out/nccl-test.log)"
	fi
else
	echo "no $bin/dist.test: rebuild with scripts/build_gpu_carry.sh"
fi

echo
if [ $status -eq 0 ]; then echo "gpu_check: all steps ran"; else echo "gpu_check: FAILURES above"; fi
exit $status
