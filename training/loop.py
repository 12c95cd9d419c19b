"""Training plumbing shared by the trainers: seeding, torchrun/DDP set-up, JSONL logs, loss plots."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def ddp_setup():
    """(rank, world_size, device). Under torchrun (WORLD_SIZE > 1) joins the process group: NCCL
    with one GPU per local rank when CUDA is available, gloo on CPUs."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


class Run:
    """One training process's context: DDP rank/world/device, output folder, log and clocks."""

    def __init__(self, cfg, rank: int, world: int, device):
        import time

        self.cfg, self.rank, self.world, self.device = cfg, rank, world, device
        self.out = Path(cfg.out)  # created by the log's first record, once the inputs are known to be usable
        self.log = JsonlLog(self.out / "log.jsonl", enabled=self.is_main)
        self.cpu0, self.t0 = time.process_time(), time.time()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wants_log(self, step: int) -> bool:
        return self.is_main and (step % self.cfg.log_every == 0 or step == self.cfg.steps - 1)

    def wants_val(self, step: int, have_val: bool) -> bool:
        return self.is_main and have_val and ((step + 1) % self.cfg.val_every == 0 or step == self.cfg.steps - 1)

    def seconds(self) -> dict:
        import time

        return {"cpu_seconds": round(time.process_time() - self.cpu0, 1), "wall_seconds": round(time.time() - self.t0, 1)}

    def finish(self) -> None:
        """Loss plot (main rank, if asked) and DDP teardown."""
        import torch

        if self.is_main and self.cfg.plot:
            plot_log(self.out / "log.jsonl", self.out / "loss.png")
        if self.world > 1:
            torch.distributed.destroy_process_group()


def start_run(cfg) -> Run:
    """Checks the dataset argument, joins DDP under torchrun, sets threads and seeds (per rank)."""
    import torch

    from kpanim.errors import KpanimError

    if not cfg.data:
        raise KpanimError("no dataset given: pass --data DIR (a folder made by 'kpanim prepare')")
    check_run_config(cfg)
    rank, world, device = ddp_setup()
    torch.set_num_threads(max(1, cfg.threads))
    seed_everything(cfg.seed + rank)
    return Run(cfg, rank, world, device)


def check_run_config(cfg) -> None:
    """The shared settings of a training run, checked before any work (one-line errors)."""
    from kpanim.commands.checks import check_number
    from kpanim.errors import KpanimError

    for name, lo, hi, example in (("steps", 1, 10**8, 3000), ("batch_size", 1, 4096, 16), ("threads", 1, 256, 2),
                                  ("lr", 0, 1, 0.001), ("log_every", 1, 10**8, 50), ("val_every", 1, 10**8, 500)):
        if hasattr(cfg, name):
            check_number(f"--{name.replace('_', '-')}", getattr(cfg, name), lo, hi, example=example,
                         integer=isinstance(example, int), lo_open=name == "lr")
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise KpanimError(f"--out {out}: is a file; give a folder for the run (created if missing)")


class JsonlLog:
    """Append-only JSON-lines log (one object per line; TensorBoard-free).

    The file (and its folder) is created by the first record, not before: a run that fails on its
    inputs leaves no run folder behind."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled, self.started = Path(path), enabled, False

    def write(self, record: dict) -> None:
        if self.enabled:
            if not self.started:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_text("")
                self.started = True
            with open(self.path, "a") as fh:
                fh.write(json.dumps(record, default=float) + "\n")


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_log(log_path: Path, png_path: Path) -> Path:
    """Loss curves (every numeric per-step field) and validation metrics from a log.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = read_log(log_path)
    steps = [r for r in recs if "step" in r and "loss" in r]
    vals = [r for r in recs if "val" in r]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    keys = [k for k in (steps[0] if steps else {}) if k not in ("step", "lr", "seconds") and
            isinstance(steps[0][k], (int, float))]
    for k in keys:
        axes[0].plot([r["step"] for r in steps], [r[k] for r in steps], label=k)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].legend(fontsize=7)
    axes[0].set_title("training losses")
    if vals:
        for k in vals[0]["val"]:
            axes[1].plot([r["step"] for r in vals], [r["val"][k] for r in vals], marker="o", label=k)
        axes[1].legend(fontsize=7)
        axes[1].set_title("validation")
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)
    return png_path
