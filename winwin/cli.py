"""The ``winwin`` command: train / eval / predict / calibrate / diagnose / bench, for every task."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _train(args) -> None:
    from .engine.config import load_config
    from .engine.train import train

    cfg = load_config(args.config, args.overrides)
    train(cfg, progress=not args.quiet)


def _pretrain(args) -> None:
    from .engine.config import load_config
    from .engine.pretrain import pretrain

    cfg = load_config(args.config, args.overrides)
    pretrain(cfg, args.mask_ratio, progress=not args.quiet)


def _eval(args) -> None:
    from .engine.checkpoint import load_checkpoint, load_task
    from .engine.evaluate import evaluate
    from .engine.resolve import resolve_run
    from .engine.runtime import resolve_device
    from .engine.train import build_split
    from .files import atomic_write_text
    from .inference.options import inference_spec
    from .models.temperature import describe_temperature, format_temperature, temperature_override

    spec = inference_spec(args)
    ckpt, cfg = resolve_run(args.run, args.config, args.overrides)
    if cfg is None:
        raise SystemExit(f"error: cannot find the experiment config of {args.run}; pass --config CONFIG.yaml")
    device = resolve_device(args.device)
    model, info = load_checkpoint(ckpt, device)
    task = load_task(info)
    val_set = build_split(task, cfg, cfg.data.val_split, train=False)
    with temperature_override(model, args.temperature):  # None: the checkpoint's calibrated temperature(s)
        used = describe_temperature(model)
    metrics = evaluate(
        task, model, val_set, device, args.batch_size, args.temperature, progress=not args.quiet, inference=spec
    )
    metrics["inference"] = spec.describe()
    metrics["temperature"] = used["temperature"] if used["mode"] == "shared" else "per_head"
    if used["mode"] == "per_head":
        metrics["head_temperatures"] = used["head_temperatures"]
    metrics["checkpoint"] = str(ckpt)
    print(
        f"{task.summary(metrics)}  loss {metrics['loss']:.4f}  "
        f"({metrics['images']} images, {spec.describe()}, {format_temperature(used)})"
    )
    for line in task.eval_lines(metrics):
        print(line)
    if args.output:
        atomic_write_text(Path(args.output), json.dumps(metrics, indent=2))


def _submit(args) -> None:
    import yaml

    from .data import build_dataset
    from .engine.checkpoint import load_checkpoint, load_task
    from .engine.resolve import resolve_run
    from .engine.runtime import resolve_device
    from .errors import InputError
    from .inference.options import inference_spec
    from .inference.submit import write_submission

    spec = inference_spec(args)
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--option takes key=value (a dataset option, e.g. pass_name=final), got {item!r}")
        options[key] = yaml.safe_load(value)
    dataset = build_dataset(args.data, args.split, root=args.root, options=options)
    ckpt, _ = resolve_run(args.run)
    model, info = load_checkpoint(ckpt, resolve_device(args.device))
    written = write_submission(model, load_task(info), dataset, args.output, spec, args.temperature, not args.quiet)
    print(f"wrote {written} predictions under {args.output} ({spec.describe()})")


def _predict(args) -> None:
    from .engine.checkpoint import load_checkpoint, load_task
    from .engine.resolve import resolve_run
    from .engine.runtime import resolve_device
    from .inference import predict_files
    from .inference.options import inference_spec

    spec = inference_spec(args)
    ckpt, _ = resolve_run(args.checkpoint)
    info_model, info = load_checkpoint(ckpt, resolve_device(args.device))
    task = load_task(info)
    written = predict_files(info_model, task, args.images, args.output, args.viz, args.temperature, spec)
    print(f"wrote {args.output}" + (f" and {args.viz}" if args.viz else "") + f": {written}")


def _calibrate(args) -> None:
    from .engine.calibrate import DEFAULT_SWEEP, parse_sweep
    from .engine.calibrate_run import run_calibration
    from .engine.resolve import resolve_run
    from .engine.runtime import resolve_device, setup_runtime

    sweep = args.sweep if args.sweep is not None or args.learn else DEFAULT_SWEEP  # neither flag: the sweep
    try:
        temperatures = parse_sweep(sweep) if sweep is not None else None
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    for name in ("images", "batch_size", "steps"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.lr > 0:
        raise SystemExit(f"error: --lr must be > 0, got {args.lr}")
    ckpt, cfg = resolve_run(args.checkpoint, args.config)
    if cfg is None:
        raise SystemExit(f"error: cannot find the experiment config of {args.checkpoint}; pass --config CONFIG.yaml")
    setup_runtime(args.seed)
    run_calibration(
        ckpt,
        cfg,
        sweep=temperatures,
        learn=args.learn,
        select=args.select,
        images=args.images,
        batch_size=args.batch_size,
        steps=args.steps,
        lr=args.lr,
        device=resolve_device(args.device),
        out_dir=Path(args.out) if args.out else None,
        seed=args.seed,
        progress=not args.quiet,
    )


def _reproduce(args) -> None:
    from .reproduce.main import run_cli

    run_cli(args)


def _diagnose(args) -> None:
    from .tools.self_attention import run_self_attention

    try:
        run_self_attention(args)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


def _bench(args) -> None:
    from .tools.bench_train import run_train_bench

    run_train_bench(args)


def build_parser() -> argparse.ArgumentParser:
    from .inference.options import add_inference_args

    parser = argparse.ArgumentParser(prog="winwin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a YAML config (key=value overrides)")
    p.add_argument("config", help="experiment YAML, e.g. configs/demo.yaml")
    p.add_argument(
        "overrides", nargs="*", help="dotted key=value overrides, e.g. train.steps=100 windows.num_windows=1"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "pretrain", help="cross-view completion pretraining of a two-frame model (CroCo's pretext task) -> croco.pth"
    )
    p.add_argument("config", help="experiment YAML of a two-frame task, e.g. configs/flow_pretrain.yaml")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    p.add_argument("--mask-ratio", type=float, default=0.9, help="share of frame 1's tokens hidden (CroCo: 0.9)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_pretrain)

    p = sub.add_parser("eval", help="evaluate a run or checkpoint (default: full resolution, one forward per image)")
    p.add_argument("run", help="run folder or checkpoint (.safetensors / .json)")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. data.name=sintel data.root=DIR")
    p.add_argument("--config", help="experiment YAML (default: the run's config.yaml)")
    p.add_argument(
        "--temperature", type=float, help="attention scale multiplier (default: the checkpoint's; 1 = untuned)"
    )
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("-o", "--output", help="write the metrics as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_inference_args(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser("submit", help="predict a benchmark's test split into the files its server takes")
    p.add_argument("run", help="run folder or checkpoint")
    p.add_argument("--data", required=True, help="dataset name with a submission format (sintel, kitti_flow)")
    p.add_argument("--root", required=True, help="the dataset's folder")
    p.add_argument("--split", default="test")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="dataset option (repeatable)")
    p.add_argument("-o", "--output", required=True, help="folder to write the submission tree into")
    p.add_argument("--temperature", type=float)
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_inference_args(p)
    p.set_defaults(func=_submit)

    p = sub.add_parser(
        "predict", help="predict one image (or frame pair; default: full resolution, one pass) and write the result"
    )
    p.add_argument("checkpoint", help="run folder or checkpoint")
    p.add_argument("images", nargs="+", metavar="image", help="input image file(s): one per input of the task")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file; its suffix picks one of the formats the checkpoint's task writes (see the README)",
    )
    p.add_argument("--viz", help="also write a picture of the prediction to this .png")
    p.add_argument("--temperature", type=float)
    p.add_argument("--device", default="auto")
    add_inference_args(p)
    p.set_defaults(func=_predict)

    p = sub.add_parser(
        "calibrate", help="tune the attention softmax temperature of a checkpoint for full-resolution inputs"
    )
    p.add_argument("checkpoint", help="run folder or checkpoint; the result is stored in its JSON config")
    p.add_argument(
        "--sweep",
        nargs="?",
        const="0.5:1.5:0.05",
        metavar="START:STOP:STEP",
        help="one multiplier for every attention layer, minimising the full-resolution training loss "
        "(default 0.5:1.5:0.05; the default action when --learn is not given)",
    )
    p.add_argument(
        "--learn",
        action="store_true",
        help="learn one temperature per head with every weight frozen (after the sweep when both are given)",
    )
    p.add_argument(
        "--select",
        default="loss",
        metavar="loss|metric",
        help="--sweep: keep the multiplier with the lowest training loss (the paper's choice) or the best "
        "value of the task's primary metric (metric, or the metric's name)",
    )
    p.add_argument("--images", type=int, default=100, help="training images the sweep is measured on (evenly spread)")
    p.add_argument("--steps", type=int, default=200, help="--learn: optimisation steps")
    p.add_argument("--lr", type=float, default=0.01, help="--learn: Adam learning rate of the log-temperatures")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", help="experiment YAML (default: the run's config.yaml)")
    p.add_argument("--out", help="folder for the curves (default: <run>/calibration)")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_calibrate)

    p = sub.add_parser("diagnose", help="diagnostics")
    diag = p.add_subparsers(dest="diagnose", required=True)
    d = diag.add_parser(
        "self-attention",
        help="Appendix D, Fig. 7: self-attention probability vs number of tokens "
        "with constant query-key products, and the temperature that matches them",
    )
    from .tools.self_attention import add_self_attention_args

    add_self_attention_args(d)
    d.set_defaults(func=_diagnose)

    from .reproduce.catalog import DEFAULT_TABLES
    from .reproduce.runner import Budget

    p = sub.add_parser(
        "reproduce", help="the paper's tables at small scale on the embedded data -> reports/REPRODUCTION.md"
    )
    p.add_argument(
        "--tables", nargs="+", default=list(DEFAULT_TABLES), help=f"which tables ({', '.join(DEFAULT_TABLES)})"
    )
    p.add_argument("--seeds", type=int, nargs="+", help="seeds per row (default 0 1 2; --quick: 0)")
    p.add_argument(
        "--steps", type=int, default=Budget.steps, help="steps of every row (equal epochs; table3: 1/4; check: 2x)"
    )
    p.add_argument("--eval-every", type=int, default=Budget.eval_every, help="validation points of the learning curves")
    p.add_argument("--quick", action="store_true", help="a few steps of a tiny model: checks that all runs")
    p.add_argument("--report-only", action="store_true", help="write the report from the finished runs; train nothing")
    p.add_argument(
        "--hours", type=float, help="time budget: start only the runs expected to finish within it (others: later)"
    )
    p.add_argument(
        "--fill",
        action="store_true",
        help="with --hours: when no run left fits, train the others (one per free --jobs slot) until the time "
        "is up, stopped with a checkpoint that the next call in the same --out folder resumes",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs trained at once, side by side, each with an equal share of the cores (2 on a 2-core CPU: "
        "1.2-1.45x the throughput of one run; on a GPU: several small runs share it)",
    )
    p.add_argument(
        "--out", default="reports", help="report folder (results under OUT/results: commit them; runs under OUT/runs)"
    )
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("bench", help="benchmarks")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("train", help="training step time and peak memory: full resolution vs one crop vs 2 windows")
    from .tools.bench_train import add_train_bench_args

    add_train_bench_args(b)
    b.set_defaults(func=_bench)
    from .tools.bench_inference import add_inference_bench_args, run_inference_bench
    from .tools.bench_windows import add_windows_bench_args, run_windows_bench

    b = bench.add_parser(
        "inference", aliases=["infer"], help="full pass vs tiling vs resize: wall time, peak memory, FLOPs"
    )
    add_inference_bench_args(b)
    b.set_defaults(func=run_inference_bench)
    b = bench.add_parser("windows", help="window sampler: time per batch and evenness of grid coverage")
    add_windows_bench_args(b)
    b.set_defaults(func=run_windows_bench)
    return parser


def _is_override(word: str) -> bool:
    return not word.startswith("-") and "=" in word


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may come after options too (``train cfg.yaml --quiet train.steps=10``); argparse
    # alone stops collecting a positional list at the first option
    args, rest = parser.parse_known_args(argv)
    if rest and isinstance(getattr(args, "overrides", None), list) and all(_is_override(r) for r in rest):
        args.overrides = [*args.overrides, *rest]
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from .errors import InputError, Interrupted

    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun, one process says it
    try:
        args.func(args)
    except Interrupted as e:  # a pre-emption notice, handled: the checkpoint is saved
        if main_process:
            print(f"stopped: {e}", file=sys.stderr)
        return 128 + e.signum
    except (InputError, FileNotFoundError) as e:  # what the user gave is wrong: one line, no traceback
        message = str(e) if not isinstance(e, KeyError) else e.args[0]
        if main_process:
            print("error: " + " ".join(message.split()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
