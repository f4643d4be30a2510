#!/usr/bin/env bash
# Builds .gpucheck/, the folder a GPU machine without Go needs to run scripts/gpu_check.sh:
# the mdsm binary and the gpu and dist packages' test binaries, all CGO_ENABLED=0 (they load CUDA at
# run time), and the PyTorch GPU anchor (torch_mdsm_gpu.py and torch_mdsm_step.py) from
# $MDSM_SHARED/bench (default ../shared/bench). .gpucheck/ is git-ignored; carry it.
# Usage: scripts/build_gpu_carry.sh    (prints the folder's size; it must stay < 64 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpucheck
rm -rf "$out"
mkdir -p "$out/torch"
export CGO_ENABLED=0 GOOS=linux GOARCH=amd64
go build -trimpath -ldflags='-s -w' -o "$out/mdsm" ./cmd/mdsm
go test -c -trimpath -ldflags='-s -w' -o "$out/gpu.test" ./gpu
go test -c -trimpath -ldflags='-s -w' -o "$out/dist.test" ./dist
shared=${MDSM_SHARED:-../shared}
for f in torch_mdsm_gpu.py torch_mdsm_step.py; do
	if [ -f "$shared/bench/$f" ]; then
		cp "$shared/bench/$f" "$out/torch/"
	else
		echo "warning: $shared/bench/$f not found: the speed table will lack PyTorch" >&2
	fi
done
du -sh "$out"
