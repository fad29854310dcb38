"""Train one encoder on the benchmark, on one process or many through ``torchrun`` (DDP).

    torchrun --nproc_per_node=2 -m tempmodels.train_ddp --encoder multiscale --out runs/ms
    torchrun --nproc_per_node=2 -m tempmodels.train_ddp --encoder mean --strategy fsdp --out runs/mean-fsdp
    python -m tempmodels.train_ddp --encoder mean --epochs 5 --out runs/mean      # one process
    torchrun --nproc_per_node=2 -m tempmodels.train_ddp --encoder transformer --video-encoder s3d --out runs/joint

With ``--video-encoder`` it trains chapter 10's multimodal autoencoder instead: the audio encoder and
the video encoder (by name) on the audio and video tracks of the same TRs, with an fMRI head predicting
simulated voxels (chapter 09's simulator with the video families) over FIR lags 1-4.

``--strategy fsdp`` shards the parameters, gradients and optimizer states over the processes with
PyTorch's FSDP (``fully_shard``, ZeRO-3) instead of replicating them (DDP); ``result.json`` records
the bytes each rank held (``"memory"``). The backend is gloo on CPU and nccl on CUDA. ``--batch-size`` must divide by the number of
processes. Encoders with BatchNorm (``multiscale``) use ``SyncBatchNorm`` on CUDA; on CPU PyTorch
has none, so each process normalises with its own shard's statistics — a different model from one
process; the run warns and ``result.json`` records it under ``"batchnorm"``. Rank 0 builds the benchmark cache first, the others
wait at a barrier and read it. Rank 0 writes ``<out>/checkpoint.pt`` after every epoch (rerun the
same command to resume) and ``<out>/result.json`` at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from .atomic import atomic_path
from .audio.benchmark import AudioConfig, load_audio_benchmark
from .experiment import AudioData, build_autoencoder
from .registry import ENCODERS, VIDEO_ENCODERS, make_encoder
from .training import TrainConfig, evaluate_loss, fit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", choices=sorted(ENCODERS), required=True)
    ap.add_argument("--encoder-kwargs", type=json.loads, default={}, help='JSON, e.g. \'{"hidden": 64}\'')
    ap.add_argument("--video-encoder", choices=sorted(VIDEO_ENCODERS), default=None,
                    help="train chapter 10's multimodal autoencoder with this video encoder")
    ap.add_argument("--video-kwargs", type=json.loads, default={}, help='JSON, e.g. \'{"width": 8}\'')
    ap.add_argument("--fmri-dims", type=int, default=None, help="bottleneck numbers the fMRI head reads (default all)")
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-trs", type=int, default=240)
    ap.add_argument("--gap-trs", type=int, default=None)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--patience", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategy", choices=("ddp", "fsdp"), default="ddp",
                    help="replicate the model on every process (ddp) or shard it (fsdp, ZeRO-3)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        backend = "nccl" if args.device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
        if args.device.startswith("cuda"):
            args.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
            torch.cuda.set_device(args.device)
    rank = dist.get_rank() if distributed else 0
    try:
        cfg = AudioConfig(n_trs=args.n_trs, seed=args.data_seed, gap_trs=args.gap_trs)
        if rank == 0:
            bench = load_audio_benchmark(cfg, args.cache_dir, progress=False)
        if distributed:
            dist.barrier()
        if rank != 0:
            bench = load_audio_benchmark(cfg, args.cache_dir, progress=False)
        data = AudioData.from_bench(bench)
        build = build_autoencoder(lambda: make_encoder(args.encoder, d_model=args.d_model, **args.encoder_kwargs),
                                  args.d_model)
        if args.video_encoder:
            data, build = _joint(args, bench, data)
        train_cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                                seed=args.seed, device=args.device)
        args.out.mkdir(parents=True, exist_ok=True)
        res = fit(build, data.train, data.val, train_cfg, checkpoint=args.out / "checkpoint.pt", progress=rank == 0,
                  desc=f"rank0 {args.encoder}", strategy=args.strategy)
        if rank == 0:
            result = {"encoder": args.encoder, "video_encoder": args.video_encoder,
                      "world_size": dist.get_world_size() if distributed else 1,
                      "strategy": args.strategy if distributed else "single process", "memory": res.memory,
                      "resumed_from": res.resumed_from,
                      # the returned model (under FSDP rebuilt whole from the shards) scored again on the validation block
                      "final_val_loss": evaluate_loss(res.model, data.val),
                      "best_epoch": res.best_epoch, "best_val_loss": res.best_val, "batchnorm": res.batchnorm,
                      "history": res.history.to_dict(orient="records")}
            with atomic_path(args.out / "result.json") as tmp:
                tmp.write_text(json.dumps(result, indent=1))
            print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    finally:
        if distributed:
            dist.destroy_process_group()
    return 0


def command(out: str | Path, nproc: int = 2, **flags) -> list[str]:
    """The command line that trains with ``flags`` (``encoder="mean", strategy="fsdp"`` ->
    ``--encoder mean --strategy fsdp``) on ``nproc`` processes through ``torchrun``."""
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "tempmodels.train_ddp"]
    for k, v in flags.items():
        if v is None:
            continue  # the option's default
        argv += [f"--{k.replace('_', '-')}", json.dumps(v) if isinstance(v, (dict, list)) else str(v)]
    return argv + ["--out", str(out)]


def launch(out: str | Path, nproc: int = 2, env: dict | None = None, timeout: float = 600, **flags) -> dict:
    """Run :func:`command` and return its ``result.json``; a failed run raises with the end of its stderr."""
    import subprocess

    run = subprocess.run(command(out, nproc, **flags), capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    if run.returncode != 0:
        raise RuntimeError(f"torchrun exited {run.returncode}: {' '.join(command(out, nproc, **flags))}\n"
                           f"{run.stderr[-3000:]}")
    return json.loads((Path(out) / "result.json").read_text())


def _joint(args, bench, audio_data):
    """Packed joint windows and the multimodal model's builder (deterministic: every rank builds the same)."""
    from .fmri.simulator import SimConfig, simulate
    from .joint import JointData
    from .multimodal import build_multimodal
    from .video.experiment import VideoData
    from .video.sprites import VideoConfig, generate

    video = generate(VideoConfig(n_trs=args.n_trs, seed=args.data_seed, gap_trs=args.gap_trs))
    sim = simulate(bench, SimConfig(voxels_per_family=4, repeats=2, seed=args.data_seed), video)
    data = JointData.build(audio_data, VideoData.from_bench(video), sim.mean_response, context=5, family=sim.family)
    return data, lambda: build_multimodal(data.layout, args.encoder, args.video_encoder, args.d_model, args.encoder_kwargs,
                                          args.video_kwargs, fmri_dims=args.fmri_dims, decoder_hidden=64)


if __name__ == "__main__":
    sys.exit(main())
