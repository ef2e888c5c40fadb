"""The ``winwin`` command: train / eval / predict / bench."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _train(args) -> None:
    from .engine.config import load_config
    from .engine.train import train

    cfg = load_config(args.config, args.overrides)
    train(cfg, progress=not args.quiet)


def _eval(args) -> None:
    from .engine.checkpoint import atomic_write_text, load_checkpoint
    from .engine.evaluate import evaluate_segmentation
    from .engine.resolve import resolve_run
    from .engine.runtime import resolve_device
    from .engine.train import build_datasets

    ckpt, cfg = resolve_run(args.run, args.config)
    if cfg is None:
        raise SystemExit(f"error: cannot find the experiment config of {args.run}; pass --config CONFIG.yaml")
    device = resolve_device(args.device)
    model, info = load_checkpoint(ckpt, device)
    _, val_set = build_datasets(cfg)
    temperature = args.temperature  # None: the checkpoint's calibrated value (model.temperature)
    metrics = evaluate_segmentation(model, val_set, device, args.batch_size, temperature)
    metrics["temperature"] = temperature if temperature is not None else model.config.temperature
    metrics["checkpoint"] = str(ckpt)
    print(f"mIoU {metrics['miou']:.4f}  pixel acc {metrics['pixel_acc']:.4f}  loss {metrics['loss']:.4f}  "
          f"({metrics['images']} images at full resolution, temperature {metrics['temperature']:g})")
    if args.output:
        atomic_write_text(Path(args.output), json.dumps(metrics, indent=2))


def _predict(args) -> None:
    from .engine.checkpoint import load_checkpoint
    from .engine.resolve import resolve_run
    from .engine.runtime import resolve_device
    from .infer import predict_file

    ckpt, _ = resolve_run(args.checkpoint)
    model, info = load_checkpoint(ckpt, resolve_device(args.device))
    palette = info.get("palette")  # the training dataset's colours, saved with the checkpoint
    labels = predict_file(model, args.image, args.output, palette, args.temperature)
    print(f"wrote {args.output} ({labels.shape[0]}x{labels.shape[1]}, classes present: {sorted(set(labels.flatten().tolist()))})")


def _bench(args) -> None:
    from .bench import run_train_bench

    run_train_bench(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="winwin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a YAML config (key=value overrides)")
    p.add_argument("config", help="experiment YAML, e.g. configs/demo.yaml")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.steps=100 windows.num_windows=1")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="evaluate a run or checkpoint at full resolution (one forward per image)")
    p.add_argument("run", help="run folder or checkpoint (.safetensors / .json)")
    p.add_argument("--config", help="experiment YAML (default: the run's config.yaml)")
    p.add_argument("--temperature", type=float, help="attention scale multiplier (default: the checkpoint's; 1 = untuned)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("-o", "--output", help="write the metrics as JSON here")
    p.set_defaults(func=_eval)

    p = sub.add_parser("predict", help="predict one image at full resolution and write a colour-coded PNG")
    p.add_argument("checkpoint", help="run folder or checkpoint")
    p.add_argument("image")
    p.add_argument("-o", "--output", required=True, help="output .png")
    p.add_argument("--temperature", type=float)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_predict)

    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("train", help="training step time and peak memory: full resolution vs one crop vs 2 windows")
    from .bench import add_train_bench_args

    add_train_bench_args(b)
    b.set_defaults(func=_bench)
    from .bench_windows import add_windows_bench_args, run_windows_bench

    b = bench.add_parser("windows", help="window sampler: time per batch and evenness of grid coverage")
    add_windows_bench_args(b)
    b.set_defaults(func=run_windows_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .engine.config import ConfigError

    try:
        args.func(args)
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
