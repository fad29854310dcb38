"""One trainer for every encoder: seeded, deterministic on CPU, AdamW + warmup/cosine schedule,
gradient clipping, early stopping on the validation block, checkpoint + exact resume, tqdm.

Runs unchanged under ``torchrun``: each rank takes an equal share of every global batch
(``batch_size`` must divide by the number of processes) and the gradients are averaged, either by
DDP (``strategy="ddp"``: every rank holds the whole model, its gradients and optimizer states) or
by PyTorch's FSDP (``strategy="fsdp"``, ``fully_shard``: each rank holds 1/N of each; ZeRO-3). Rank 0
writes the checkpoints. BatchNorm under DDP: on CUDA it is converted to ``SyncBatchNorm``, so the
statistics of the whole global batch are used, as on one process; on CPU (gloo) PyTorch has no
``SyncBatchNorm``, so each process normalises with the statistics of its own shard — a different
model from one process, which ``fit`` warns about and records in ``FitResult.batchnorm``.
"""
from __future__ import annotations

import copy
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from tqdm.std import tqdm  # a plain text bar: no ipywidgets in executed notebooks

from . import entries
from .repro import seed_everything
from .timing import record


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_epochs: int = 2
    grad_clip: float = 1.0
    patience: int = 8
    seed: int = 0
    device: str = "cpu"
    #: "fp32", or mixed precision: "bf16" (autocast on CPU or CUDA) or "fp16" (CUDA, with a gradient
    #: scaler); the weights, optimizer states and validation stay in fp32 either way
    precision: str = "fp32"

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs, batch_size and lr must be positive: {self}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}")
        if self.precision == "fp16" and not str(self.device).startswith("cuda"):
            raise ValueError(f"precision 'fp16' needs a CUDA device (got device={self.device!r}); on CPU use 'bf16'")


@dataclass
class FitResult:
    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    best_val: float
    resumed_from: int | None
    batchnorm: str = "none"  # "none" | "single process" | "synchronised" | "per-process"
    units: dict = field(default_factory=dict)  # per-unit test scores, set by the runner that scored it
    #: bytes each rank held after its first optimizer step: one dict per rank (see :func:`state_bytes`)
    memory: list = field(default_factory=list)


STRATEGIES = ("ddp", "fsdp")


def _local(t: torch.Tensor) -> torch.Tensor:
    """The part of a (possibly sharded, ``DTensor``) tensor this rank stores."""
    return t.to_local() if hasattr(t, "to_local") else t


def state_bytes(model: nn.Module, opt: torch.optim.Optimizer) -> dict[str, int]:
    """Bytes this rank stores for the parameters, their gradients and the optimizer states (its
    shard of each under FSDP). DDP's gradient buckets, a second copy of the gradients kept by the
    reducer, are not counted."""
    nbytes = lambda ts: sum(_local(t).numel() * _local(t).element_size() for t in ts if isinstance(t, torch.Tensor))
    params = list(model.parameters())
    states = [v for st in opt.state.values() for k, v in st.items() if k != "step"]
    return {"parameters": nbytes(params), "gradients": nbytes(p.grad for p in params if p.grad is not None),
            "optimizer": nbytes(states)}


def _shard(model: nn.Module) -> None:
    """FSDP2: each top-level child its own unit, then the root."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(torch.device(next(model.parameters()).device).type, (dist.get_world_size(),))
    for child in model.children():
        if any(True for _ in child.parameters()):
            fully_shard(child, mesh=mesh)
    fully_shard(model, mesh=mesh)


def _best_state(model: nn.Module, sharded: bool) -> dict:
    """A copy of the weights to restore at the end: under FSDP each rank's own shards (no gather)."""
    if not sharded:
        return copy.deepcopy(model.state_dict())
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _gathered(state_dict: dict | None) -> dict | None:
    """Sharded (``DTensor``) entries made whole on the CPU, for a checkpoint (a collective on every rank)."""
    if state_dict is None:
        return None
    return {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).cpu() for k, v in state_dict.items()}


def _full_model_state(model: nn.Module, sharded: bool) -> dict:
    """The model's state dict, whole (gathered on every rank when sharded: a collective)."""
    if not sharded:
        return copy.deepcopy(model.state_dict())
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _schedule(cfg: TrainConfig, steps_per_epoch: int):
    warm = max(1, cfg.warmup_epochs * steps_per_epoch)
    total = max(warm + 1, cfg.epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / (total - warm))))

    return factor


@torch.no_grad()
def evaluate_loss(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> float:
    model.eval()
    dev = next(model.parameters()).device
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(dev)
        total += float(nn.functional.mse_loss(model(xb), xb, reduction="sum"))
    return total / x.numel()


@torch.no_grad()
def evaluate_parts(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> dict[str, float]:
    """``model.loss_parts(batch)`` (a dict of per-sample-mean losses) averaged over ``x`` in eval mode."""
    model.eval()
    dev = next(model.parameters()).device
    total: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(dev)
        for k, v in model.loss_parts(xb).items():
            total[k] = total.get(k, 0.0) + float(v) * len(xb)
    return {k: v / len(x) for k, v in total.items()}


_CHECKPOINT_FIELDS = ("model", "optimizer", "scheduler", "rng_torch", "rng_numpy", "rng_python", "state")


def _loss_identity(loss_fn) -> str | None:
    """What a custom loss computes, for a checkpoint's fingerprint: its ``cache_tag`` (e.g. the
    distillation teacher's digest). A loss without one cannot say what it is: its checkpoints are
    never resumed (the process-specific name below never matches), rather than resumed wrongly."""
    if loss_fn is None:
        return None
    tag = getattr(loss_fn, "cache_tag", None)
    return str(tag) if tag else f"{type(loss_fn).__qualname__}@{id(loss_fn)}:{os.getpid()}"


def _probe_digest(model: nn.Module, probe: torch.Tensor) -> str:
    """The model's eval-mode output on a few real TRs (a forward that differs with the same layers and
    weights — a positional encoding on or off — differs here); no state or random stream is touched."""
    was_training = model.training
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        model.eval()
        out = model(probe)
    model.train(was_training)
    return entries.tensors_digest(out if isinstance(out, torch.Tensor) else torch.cat([o.flatten() for o in out]))


def _checkpoint_fingerprint(model: nn.Module, train_x: torch.Tensor, val_x: torch.Tensor, cfg: TrainConfig,
                            loss_fn, layout: str = "replicated") -> dict:
    """What a checkpoint was made from: the configuration (the device by its type, so ranks on cuda:0
    and cuda:1 agree), the data (train and validation TRs), the model tree with its initial weights and
    its output on a probe, the loss, the checkpoint's layout (FSDP's optimizer state is keyed by
    parameter name, DDP's by position: one is never loaded as the other), and the code and library versions."""
    config = {**asdict(cfg), "device": torch.device(cfg.device).type}
    return {"config": config, "n_train": len(train_x), "data": entries.tensors_digest(train_x, val_x),
            "model": entries.module_digest(model), "probe": _probe_digest(model, train_x[:4]),
            "loss": _loss_identity(loss_fn), "layout": layout, "code": entries.code_fingerprint()}


def fit(build_model: Callable[[], nn.Module], train_x: torch.Tensor, val_x: torch.Tensor, cfg: TrainConfig,
        checkpoint: str | Path | None = None, progress: bool = True, desc: str = "train",
        on_epoch_end: Callable[[int, pd.DataFrame], None] | None = None,
        loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
        strategy: str = "ddp") -> FitResult:
    """Train an autoencoder ``build_model()`` to reconstruct its input frames (MSE).

    ``loss_fn(model, batch)`` replaces the training loss (e.g. distillation,
    :mod:`tempmodels.distillation`); validation and early stopping stay on the reconstruction MSE.

    With ``checkpoint`` set, state is saved atomically after every epoch and a later call with
    the same arguments resumes from it, reaching the same result as an uninterrupted run. The
    checkpoint carries a fingerprint of what made it (:func:`_checkpoint_fingerprint`) and a checksum:
    one made from other data, another model or configuration, or other code, and one that is
    damaged, is named in a warning, moved aside and trained again from scratch — never resumed.

    ``strategy`` ("ddp" or "fsdp") says how several processes share the work (one process: ignored).
    Under FSDP the checkpoint holds the whole (gathered) model and optimizer, and the returned model
    is an ordinary, unsharded module on every rank.
    """
    started = time.perf_counter()
    rank, world = _world()
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    sharded = strategy == "fsdp" and world > 1
    if sharded and cfg.precision == "fp16":
        raise NotImplementedError("fp16 with FSDP needs a sharded gradient scaler; use precision='bf16'")
    if world > 1 and loss_fn is not None:
        raise NotImplementedError("a custom loss_fn is supported on one process only (not under torchrun)")
    if world > 1 and cfg.batch_size % world:
        raise ValueError(f"batch_size={cfg.batch_size} must divide by the {world} DDP processes (equal shards, "
                         "so the gradient and the logged loss are those of one process)")
    seed_everything(cfg.seed)
    model = build_model().to(cfg.device)
    batchnorm = "none"
    if sharded and hasattr(model, "loss_parts"):
        raise NotImplementedError("a multi-part loss (loss_parts) under FSDP: its evaluation bypasses the root "
                                  "module's forward, where fully_shard gathers the weights; use strategy='ddp'")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        if sharded:
            raise NotImplementedError("BatchNorm under FSDP: fully_shard does not synchronise buffers, so each "
                                      "rank's running statistics (and validation loss) would differ; use strategy='ddp'")
        batchnorm = "single process"
        if world > 1 and str(cfg.device).startswith("cuda"):
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            batchnorm = "synchronised"
        elif world > 1:
            batchnorm = "per-process"
            if rank == 0:
                warnings.warn(f"BatchNorm under DDP on {cfg.device}: PyTorch's SyncBatchNorm needs CUDA, so each of the "
                              f"{world} processes normalises with the statistics of its own shard "
                              f"({cfg.batch_size // world} TRs); this trains a different model from one process.",
                              stacklevel=2)
    train_x, val_x = train_x.to(cfg.device), val_x.to(cfg.device)
    if len(train_x) < cfg.batch_size:
        raise ValueError(f"{len(train_x)} training TRs is fewer than batch_size={cfg.batch_size}")
    steps = len(train_x) // cfg.batch_size  # drop the ragged last batch: equal shards under DDP
    ckpt = Path(checkpoint) if checkpoint else None
    fingerprint = (_checkpoint_fingerprint(model, train_x, val_x, cfg, loss_fn, "fsdp" if sharded else "replicated")
                   if ckpt is not None else None)
    if sharded:
        _shard(model)  # before the optimizer: it must see the sharded parameters
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, steps))
    ddp_model = model
    if world > 1 and not sharded:
        ddp_model = nn.parallel.DistributedDataParallel(model)

    amp_dtype = PRECISIONS[cfg.precision]
    device_type = torch.device(cfg.device).type
    scaler = torch.amp.GradScaler(device_type, enabled=cfg.precision == "fp16")
    state = {"epoch": 0, "history": [], "best_val": float("inf"), "best_epoch": -1, "best_state": None,
             "bad_epochs": 0, "done": False}
    resumed_from = None
    memory: list = []
    saved = None
    if ckpt is not None:
        # rank 0 decides (and moves a damaged or stale file aside); the others follow, so every rank resumes
        # from the same epoch or none does
        if rank == 0:
            saved = entries.load_or_set_aside(ckpt, fingerprint, _CHECKPOINT_FIELDS, what="checkpoint")
        if world > 1:
            resume = [saved is not None]
            dist.broadcast_object_list(resume, src=0)
            if rank != 0 and resume[0]:  # rank 0 checked the fingerprint; the checksum is checked again here
                saved = entries.load(ckpt, None, _CHECKPOINT_FIELDS)
    if saved is not None:
        if sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

            set_state_dict(model, opt, model_state_dict=saved["model"], optim_state_dict=saved["optimizer"],
                           options=StateDictOptions(full_state_dict=True))
        else:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        if "scaler" in saved:
            scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng_torch"])
        np.random.set_state(saved["rng_numpy"])
        random.setstate(saved["rng_python"])
        state = saved["state"]
        resumed_from = state["epoch"]

    bar = tqdm(total=cfg.epochs, initial=state["epoch"], desc=desc, disable=not progress or rank != 0, leave=False)
    while not state["done"] and state["epoch"] < cfg.epochs:
        epoch = state["epoch"]
        model.train()
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        perm = torch.randperm(len(train_x), generator=g)
        running = 0.0
        for s in range(steps):
            batch = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size][rank::world]
            xb = train_x[batch.to(train_x.device)]
            with torch.autocast(device_type, dtype=amp_dtype, enabled=amp_dtype is not None):
                out = ddp_model(xb) if loss_fn is None else None
                loss = nn.functional.mse_loss(out.float(), xb) if loss_fn is None else loss_fn(model, xb)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            running += float(loss.detach())
            if not memory:
                memory = [state_bytes(model, opt)]
                if world > 1:
                    memory = [None] * world
                    dist.all_gather_object(memory, state_bytes(model, opt))
        train_loss = running / steps
        if world > 1:
            t = torch.tensor([train_loss], device=cfg.device)
            dist.all_reduce(t)
            train_loss = float(t) / world
        val_loss = evaluate_loss(model, val_x)
        if world > 1:  # every rank decides early stopping (and FSDP's gathers) on rank 0's value
            t = torch.tensor([val_loss], dtype=torch.float64, device=cfg.device)
            dist.broadcast(t, src=0)
            val_loss = float(t)
        row = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "lr": opt.param_groups[0]["lr"]}
        if hasattr(model, "loss_parts"):  # a multi-part loss (e.g. the multimodal autoencoder) logs each part
            row.update({f"val_{k}": v for k, v in evaluate_parts(model, val_x).items()})
        state["history"].append(row)
        if val_loss < state["best_val"]:  # every rank: the validation loss is the same on all of them
            state.update(best_val=val_loss, best_epoch=epoch + 1, bad_epochs=0,
                         best_state=_best_state(model, sharded))
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        state["done"] = state["bad_epochs"] >= cfg.patience or state["epoch"] >= cfg.epochs
        if ckpt is not None and sharded:  # gathered (a collective on every rank) to rank 0's CPU, written by rank 0
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

            model_sd, opt_sd = get_state_dict(model, opt, options=StateDictOptions(full_state_dict=True,
                                                                                   cpu_offload=True))
            saved_state = {**state, "best_state": _gathered(state["best_state"])}
        elif ckpt is not None:
            model_sd, opt_sd, saved_state = model.state_dict(), opt.state_dict(), state
        if ckpt is not None and rank == 0:
            entries.save({"model": model_sd, "optimizer": opt_sd, "scheduler": sched.state_dict(),
                          "rng_torch": torch.get_rng_state(), "rng_numpy": np.random.get_state(),
                          "rng_python": random.getstate(), "state": saved_state, "scaler": scaler.state_dict()}, ckpt,
                         fingerprint)
        if world > 1:
            dist.barrier()
        bar.update(1)
        bar.set_postfix(val=f"{val_loss:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, pd.DataFrame(state["history"]))
    bar.close()
    if sharded:  # an ordinary module with the whole weights on every rank
        best = state["best_state"]
        if best is not None and any(hasattr(v, "to_local") for v in best.values()):
            model.load_state_dict(best)  # this rank's shards
        elif best is not None:  # whole, from a resumed checkpoint
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

            set_model_state_dict(model, best, options=StateDictOptions(full_state_dict=True))
        final = _full_model_state(model, True)
        with torch.device("meta"):
            model = build_model()
        model.load_state_dict(final, assign=True)
        model.to(cfg.device)
    elif state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.eval()
    if rank == 0:
        record("train", time.perf_counter() - started, epochs=state["epoch"])
    return FitResult(model, pd.DataFrame(state["history"]), state["best_epoch"], state["best_val"], resumed_from,
                     batchnorm, memory=memory)
