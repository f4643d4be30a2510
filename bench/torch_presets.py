#!/usr/bin/python3
"""PyTorch twins of mdsm's bench cases, built from ../shared/bench/torch_mdsm_step.py.

The shared anchor times the paper net (batch 128), a plain 4-conv net and a Langevin step.
mdsm's small presets use the paper's ResNet layout at other widths, so this script times the
same layouts in PyTorch with the anchor's own classes and step functions:
  paper      ResEnergy(1, 64, 32, 3, 1), MDSM training step, batch 128
  paper-b32  the same, batch 32
  paper-mb32 the same as paper (PyTorch batch 128 in one piece; mdsm runs 4 micro-batches of 32)
  langevin   paper net, one Langevin step, batch 64
  small      ResEnergy(1, 32, 14, 1, 1), training step, batch 64 (mdsm's default preset)
  small-langevin  the same net, Langevin step, batch 64
  medium     ResEnergy(1, 16, 28, 2, 1), training step, batch 64
  tiny       ResEnergy(1, 16, 14, 1, 0), training step, batch 64
Each case runs in its own process so that peak RSS is its own. Prints one JSON line per case.
Run with Debian's python: /usr/bin/python3 bench/torch_presets.py --threads 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("MDSM_SHARED", os.path.join(HERE, "..", "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "bench"))

CASES = {
    # name: (dim, hw, stages, extra, batch, kind)
    "paper": (64, 32, 3, 1, 128, "train"),
    "paper-b32": (64, 32, 3, 1, 32, "train"),
    "paper-mb32": (64, 32, 3, 1, 128, "train"),
    "langevin": (64, 32, 3, 1, 64, "langevin"),
    "small": (32, 14, 1, 1, 64, "train"),
    "small-langevin": (32, 14, 1, 1, 64, "langevin"),
    "medium": (16, 28, 2, 1, 64, "train"),
    "tiny": (16, 14, 1, 0, 64, "train"),
}


def run_case(name, args):
    import torch
    import torch_mdsm_step as anchor

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dim, hw, stages, extra, batch, kind = CASES[name]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    net = anchor.ResEnergy(in_ch=1, dim=dim, hw=hw, stages=stages, extra=extra)
    out = {"name": name, "threads": torch.get_num_threads(), "batch": batch, "kind": kind,
           "params": sum(p.numel() for p in net.parameters()), "torch": torch.__version__}
    times, cpus = [], []
    if kind == "train":
        opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.95))
        sig = anchor.noise_levels(batch, 0.1, 3.0, geometric=True)
        x = anchor.fake_batch(batch, hw, gen)
        for i in range(args.warmup + args.steps):
            c0 = time.process_time()
            _, ph = anchor.mdsm_step(net, opt, x, sig, sigma0=0.1)
            if i >= args.warmup:
                times.append(ph[4])
                cpus.append(time.process_time() - c0)
    else:
        for p in net.parameters():
            p.requires_grad_(False)
        x = 0.5 + torch.randn(batch, 1, hw, hw, generator=gen)
        for i in range(args.warmup + args.steps):
            c0 = time.process_time()
            x, dt = anchor.langevin_step(net, x, eps=0.02, temp=100.0)
            if i >= args.warmup:
                times.append(dt)
                cpus.append(time.process_time() - c0)
    out["median_s"] = statistics.median(times)
    out["all_s"] = [round(t, 4) for t in times]
    # Process CPU time per step (all threads): the steadier measure on a shared machine.
    out["median_cpu_s"] = statistics.median(cpus)
    out["images_per_s"] = batch / out["median_s"]
    out["peak_rss_mib"] = round(anchor.peak_rss_mib(), 1)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    if args.config == "all" or "," in args.config:
        names = list(CASES) if args.config == "all" else args.config.split(",")
        for n in names:
            subprocess.run([sys.executable, os.path.abspath(__file__), "--config", n, "--threads", str(args.threads),
                            "--warmup", str(args.warmup), "--steps", str(args.steps)], check=True)
        return
    print(json.dumps(run_case(args.config, args)), flush=True)


if __name__ == "__main__":
    main()
