"""Typed experiment configuration: dataclass defaults <- YAML file <- ``key=value`` overrides, merged once,
validated before any work starts, and written into the run folder (``config.yaml``)."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..data import DataConfig
from ..errors import InputError
from ..models import ModelConfig, model_config
from ..models.config import RENAMED
from ..tasks import DEFAULT_TASK, TaskSettings, task_class
from ..windows import WindowSpec


@dataclass
class OptimConfig:
    lr: float = 1e-4  # base learning rate (the paper's fine-tuning value for ViT-Base, App. E)
    min_lr: float = 1e-6
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])  # lost in the paper's text; usual values
    weight_decay: float = 0.05
    layer_decay: float = 0.75  # lr x layer_decay^(L+1-depth)
    warmup_steps: int = 100
    clip_grad: float = 1.0  # max gradient norm; 0 disables


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 | bf16 (autocast; CUDA)
    threads: int = 0  # CPU threads; 0 = this process's share of the cores among the winwin runs on this machine
    num_workers: int = -1  # loader workers; -1 = auto: 0 on the CPU, up to 4 per process on a GPU
    log_every: int = 50
    ckpt_every: int = 500
    keep_checkpoints: int = 2  # step checkpoints kept (the newest complete one and those before it)
    eval_every: int = 0  # 0 = only at the end
    eval_batch_size: int = 4
    # continue the run folder's newest good checkpoint: weights, optimiser, step, data position and every
    # random stream (derived from seed and step), so the resumed run equals the uninterrupted one
    resume: bool = False
    # > 0: this call saves a checkpoint and stops after that many seconds of training steps, as on a
    # pre-emption notice (exit status 142); train.resume=true continues. For jobs with a wall-time limit
    time_limit_s: float = 0.0
    deterministic: bool = False  # torch.use_deterministic_algorithms (bit-exact resume on GPUs; slower)
    compile: bool = False  # torch.compile the training forward (the first steps pay the compile time)
    # start from pretrained weights (a fresh run only): a CroCo / CroCo v2 .pth (the encoder; a binocular model also
    # its decoder) or a DINOv3 ViT .pth (the encoder; model.arch dinov3_vits16 / vitb16 / vitl16), told apart by keys
    init: str | None = None


@dataclass
class ExperimentConfig:
    name: str = "run"
    out_dir: str = "runs"
    task: TaskSettings = field(default_factory=TaskSettings)  # the task's own typed settings (``task.name`` picks it)
    model: ModelConfig = field(default_factory=ModelConfig)
    windows: WindowSpec = field(default_factory=WindowSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class ConfigError(InputError):
    """A setting that cannot work; raised before any work starts."""


MOVED = {"model": {old: hint for old, (_, hint) in RENAMED.items()}}  # settings of earlier versions
# names users reach for that live elsewhere
ELSEWHERE = {"model": {"init": "pretrained weights are train.init (a CroCo / CroCo v2 or DINOv3 .pth file)"}}


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _check_type(value, hint, where: str):
    """Return ``value`` converted to ``hint`` when it is a safe widening (int -> float), else raise."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
    if hint in (int, float, str, bool):
        if isinstance(value, bool) and hint is not bool:
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
        if not isinstance(value, hint):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    return value


def _merge(obj, updates: dict, where: str):
    """Return a copy of dataclass ``obj`` with ``updates`` (nested dicts) applied, checking names and types."""
    if not isinstance(updates, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {updates!r}")
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in updates.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            if key in MOVED.get(where, {}):
                raise ConfigError(f"{path!r} is now {MOVED[where][key]}")
            if key in ELSEWHERE.get(where, {}):
                raise ConfigError(f"no setting {path!r}: {ELSEWHERE[where][key]}")
            raise ConfigError(
                f"unknown setting {path!r}; known settings of {where or 'the config'}: {', '.join(sorted(names))}"
            )
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _merge(current, value, path)
        else:
            changes[key] = _check_type(value, hints[key], path)
    return dataclasses.replace(obj, **changes)


def parse_overrides(items: list[str]) -> dict:
    """``["a.b=1", "c=[2, 3]"]`` -> nested dict; values are parsed as YAML scalars (never evaluated)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. train.steps=100)")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"override {item!r}: {raw!r} is not a YAML value (quote lists: 'k=[1, 2]')") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = value
    return out


def _deep_update(base: dict, new: dict) -> dict:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = v
    return base


def load_config(path: str | Path | None, overrides: list[str] = ()) -> ExperimentConfig:
    """Merge defaults, the YAML file and the overrides once. The task section starts from the defaults of
    ``task.name`` (``DEFAULT_TASK`` when absent), the model section from its ``arch``; the task then fills in
    what it decides: the model's output channels, its default head and its default dataset."""
    raw: dict = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: top level must be a mapping")
        raw.setdefault("name", p.stem)
    _deep_update(raw, parse_overrides(list(overrides)))
    task_raw = dict(raw.pop("task", None) or {})
    model_raw = dict(raw.pop("model", None) or {})
    if not isinstance(task_raw, dict) or not isinstance(model_raw, dict):
        raise ConfigError("the task and model sections must be mappings")
    cfg = _merge(ExperimentConfig(), raw, "")

    name = task_raw.get("name", DEFAULT_TASK)
    try:
        cls = task_class(name)
    except KeyError as e:
        raise ConfigError(f"task.name: {e.args[0]}") from None
    settings = _merge(cls.Settings(), task_raw, "task")
    try:
        task = cls(settings)
    except InputError as e:
        raise ConfigError(str(e)) from None

    arch = model_raw.pop("arch", "tiny")
    try:
        base_model = model_config(arch, **cls.model_defaults)
    except ValueError as e:
        raise ConfigError(f"model.arch: {e}") from None
    model = _merge(base_model, model_raw, "model")
    channels = task.out_channels()
    if "out_channels" in model_raw and model.out_channels != channels:
        raise ConfigError(
            f"model.out_channels is {model.out_channels} but task {name!r} needs {channels}; leave it unset"
        )
    model = dataclasses.replace(model, out_channels=channels)
    data = cfg.data if cfg.data.name is not None else dataclasses.replace(cfg.data, name=cls.default_dataset)
    cfg = dataclasses.replace(cfg, task=settings, model=model, data=data)
    validate(cfg)
    return cfg


def validate(cfg: ExperimentConfig) -> None:
    """Checks that need no data. Dataset-dependent checks (window fit, the task's dataset facts) run in ``train``."""
    try:
        cfg.model.validate()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    t, o = cfg.train, cfg.optim
    if t.steps < 1 or t.batch_size < 1:
        raise ConfigError(f"train.steps and train.batch_size must be >= 1, got {t.steps} and {t.batch_size}")
    for key in ("log_every", "ckpt_every", "keep_checkpoints"):
        if getattr(t, key) < 1:
            raise ConfigError(f"train.{key} must be >= 1, got {getattr(t, key)}")
    if t.eval_every < 0 or t.num_workers < -1:
        raise ConfigError(
            f"train.eval_every must be >= 0 and train.num_workers >= -1 (auto), got {t.eval_every}, {t.num_workers}"
        )
    if not t.time_limit_s >= 0:
        raise ConfigError(f"train.time_limit_s must be >= 0 seconds (0: no limit), got {t.time_limit_s}")
    if t.precision not in ("fp32", "bf16"):
        raise ConfigError(f"train.precision must be fp32 or bf16, got {t.precision!r}")
    if o.lr <= 0 or o.min_lr < 0 or o.min_lr > o.lr:
        raise ConfigError(f"optim.lr must be > 0 and 0 <= optim.min_lr <= optim.lr, got {o.lr} and {o.min_lr}")
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise ConfigError(f"optim.betas must be two numbers in [0, 1), got {o.betas}")
    if not 0 < o.layer_decay <= 1:
        raise ConfigError(f"optim.layer_decay must be in (0, 1], got {o.layer_decay}")
    if o.warmup_steps < 0:
        raise ConfigError(f"optim.warmup_steps must be >= 0, got {o.warmup_steps}")
    if cfg.data.image_size is not None and (len(cfg.data.image_size) != 2 or min(cfg.data.image_size) < 1):
        raise ConfigError(f"data.image_size must be [H, W], got {cfg.data.image_size}")
    if t.init is not None and not Path(t.init).is_file():
        raise ConfigError(f"train.init: {t.init} is not a file (a CroCo / CroCo v2 or DINOv3 .pth checkpoint)")
    if cfg.windows.mode not in ("windows", "budget", "random_tokens", "full"):
        raise ConfigError(f"windows.mode must be windows, budget, random_tokens or full, got {cfg.windows.mode!r}")
    if cfg.model.attention == "vitdet" and cfg.windows.mode != "full":
        raise ConfigError(
            "model.attention=vitdet trains at full resolution: set windows.mode=full "
            f"(got windows.mode={cfg.windows.mode})"
        )
    try:
        task_class(cfg.task.name)(cfg.task).check_data(cfg.data)
    except (InputError, KeyError) as e:
        raise ConfigError(str(e).strip("'\"")) from None


def to_dict(cfg: ExperimentConfig) -> dict:
    return dataclasses.asdict(cfg)


def dump_config(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
