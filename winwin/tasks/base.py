"""The task interface: what a dense-prediction task knows and the engine does not.

The engine (training loop, evaluation, temperature calibration, report, checkpoints) and the command line
drive every task through this one class; they never name a class, a depth or a flow vector. A task says

- which batch entries are the model's inputs, the target and the valid pixels (``inputs``, ``target``,
  ``valid``), and which windows a batch trains on (``sample_windows``; a binocular task returns a pair);
- its loss on the supervised pixels (``loss``: the pixels under the windows in training, every pixel at
  full resolution; invalid pixels never count) and how the raw output becomes a prediction (``predict``);
- its metric (``metric()``: ``update(pred, target, valid)`` / ``compute() -> dict``, with ``primary`` and
  ``higher_is_better``), its report rows and pictures, how a prediction is written to files;
- its default model settings (the head ...), dataset and number of output channels.

A new task is a subclass in its own folder, registered with ``winwin.tasks.register_task``; nothing in the
engine changes (``tests/test_task_seam.py`` defines one in a test file and runs it through every command).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import DATASETS, DataConfig, build_from_config, dataset_task
from ..data.transforms import load_image
from ..errors import InputError
from ..windows import Windows, WindowSpec


@dataclass
class TaskSettings:
    """The ``task:`` section of an experiment. Each task subclasses it with its own typed fields."""

    name: str = "segmentation"


class Metric(Protocol):
    """A dataset-level metric: ``update`` on each batch, ``compute`` once at the end."""

    primary: str  # the key of ``compute()`` that ranks models (mIoU, abs_rel, EPE ...)
    higher_is_better: bool

    def reset(self) -> None: ...

    def update(self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> None: ...

    def compute(self) -> dict: ...

    def merge(self, other: Metric) -> None:
        """Add ``other``'s state (another shard of the dataset) to this metric in place; ``other`` is unchanged."""


def check_mergeable(metric: object, other: object, settings: tuple[str, ...]) -> None:
    """For ``Metric.merge``: ValueError unless ``other`` is a metric of the same class with the same ``settings``."""
    name = type(metric).__name__
    if type(other) is not type(metric):
        raise ValueError(f"cannot merge a {type(other).__name__} into a {name}")
    for key in settings:
        mine, theirs = getattr(metric, key), getattr(other, key)
        if mine != theirs:
            raise ValueError(f"cannot merge {name}s with different {key}: {mine!r} and {theirs!r}")


@dataclass(frozen=True)
class Panel:
    """One picture of the report figure: an (H, W, 3) array (uint8, or float in [0, 1]) and its title.

    ``windows`` names the window set drawn over it (0: the windows of the first input, 1: of the second)."""

    title: str
    image: np.ndarray
    windows: int | None = None


class Task(ABC):
    """One dense-prediction task. ``settings`` come from the experiment's ``task:`` section; ``info`` holds
    the facts taken from the training dataset (class names, depth range ...), saved with every checkpoint
    so that a checkpoint alone can predict, evaluate and report."""

    name: ClassVar[str]
    Settings: ClassVar[type[TaskSettings]] = TaskSettings
    model_defaults: ClassVar[dict] = {}  # model settings of this task unless the experiment sets them (e.g. the head)
    default_dataset: ClassVar[str]
    num_inputs: ClassVar[int] = 1  # image files a prediction reads (2 for a binocular task)
    prediction_formats: ClassVar[tuple[str, ...]] = (".png", ".npy")  # ``write_prediction`` output suffixes

    def __init__(self, settings: TaskSettings | None = None, info: dict | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings(name=self.name)
        if not isinstance(self.settings, self.Settings):
            raise TypeError(f"task {self.name!r} takes {self.Settings.__name__}, got {type(self.settings).__name__}")
        self.validate()
        self.info: dict = dict(info or {})

    @classmethod
    def saved_settings(cls, raw: dict) -> dict:
        """A checkpoint's saved task settings, with what a setting added since then meant before it existed
        (so that an older checkpoint keeps its meaning); as saved by default."""
        return raw

    @classmethod
    def from_legacy_checkpoint(cls, info: dict) -> Task:
        """The task of a checkpoint written before tasks were saved with it (only the default task had any)."""
        raise InputError(f"checkpoint of run {info.get('run', '?')} does not say its task")

    # -- settings and model ------------------------------------------------------------------------------
    def validate(self) -> None:  # noqa: B027 (optional hook: most tasks have settings to check, some none)
        """Raise ``InputError`` for settings that cannot work (called on construction, before any work)."""

    @abstractmethod
    def out_channels(self) -> int:
        """Channels of the model's dense output (classes, 1 for log depth, 3 for flow + confidence ...)."""

    # -- data --------------------------------------------------------------------------------------------
    def check_data(self, data: DataConfig) -> None:
        """Raise ``InputError`` when the ``data:`` section names a dataset this task cannot train on."""
        try:
            kind = dataset_task(data.name)
        except ValueError as e:
            raise InputError(f"data.name: {e}") from None
        if kind != self.name:
            own = sorted(n for n, entry in DATASETS.items() if entry.task == self.name)
            raise InputError(
                f"data.name {data.name!r} is a {kind} dataset but the task is {self.name!r} "
                f"(its datasets: {', '.join(own)})"
            )

    def build_dataset(
        self, data: DataConfig, split: str, *, train: bool, augment: bool = False, cache: bool = False
    ) -> Dataset:
        """One split of ``data``: the training split's sizes when ``train``, augmented when ``augment``."""
        self.check_data(data)
        return build_from_config(data, split, train=train, augment=augment, cache=cache)

    def bind(self, dataset: Dataset) -> dict:
        """Read (and check) what the task needs from its training dataset into ``self.info``; returns it."""
        return self.info

    def fitted_to(self, dataset: Dataset) -> Task:
        """This task with the settings the dataset decides taken from it (e.g. a class count), for tools
        that run a task with default settings on its embedded data (benchmarks). Default: itself."""
        return self

    @abstractmethod
    def inputs(self, batch: dict) -> list[torch.Tensor]:
        """The model's inputs, each (B, 3, H, W)."""

    @abstractmethod
    def target(self, batch: dict) -> torch.Tensor:
        """The ground truth: (B, H, W) or (B, C, H, W)."""

    @abstractmethod
    def valid(self, batch: dict) -> torch.Tensor:
        """(B, H, W) bool: the pixels that carry a loss and a score."""

    def extras(self, batch: dict) -> dict[str, torch.Tensor]:
        """What the metric needs beyond target and valid, when the dataset has it (occlusion masks, ground
        truth at another resolution ...): passed unpadded to ``update_metric``. None by default."""
        return {}

    # -- windows -----------------------------------------------------------------------------------------
    def sample_windows(
        self,
        spec: WindowSpec,
        grid_hw: tuple[int, int],
        target: torch.Tensor,
        valid: torch.Tensor,
        generator: torch.Generator | None,
        part: tuple[int, int] = (0, 1),
    ) -> Any:
        """The windows one training batch keeps, or None for full-resolution training. A binocular task
        returns a pair (it may use the target, e.g. flow-guided windows in the second frame).

        ``part`` = (rank, world): in distributed training this batch is one of ``world`` equal shares of the
        global batch; the windows are drawn for the global batch from ``generator`` (the same on every
        process) and this share's rows kept (``Windows.part``)."""
        rank, world = part
        windows = spec.sample(grid_hw, target.shape[0] * world, generator)
        return None if windows is None else windows.part(rank, world)

    def check_windows(self, spec: WindowSpec, grid_hw: tuple[int, int]) -> None:  # noqa: B027 (optional hook)
        """Raise ``InputError`` before any work when the task's own window settings (e.g. a second frame's)
        cannot be met on the training grid; ``spec`` itself is checked by the engine."""

    def supervised_windows(self, windows: Any) -> Windows:
        """The windows whose pixels carry the loss (the first frame's for a binocular task)."""
        return windows

    def window_sets(self, windows: Any) -> list[Windows]:
        """Every window set of a batch, in input order (for pictures)."""
        return [windows]

    # -- loss, prediction, metric ------------------------------------------------------------------------
    @abstractmethod
    def loss(self, output: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Scalar loss of flattened pixels: output (B, K, P), target (B, P) or (B, C, P), valid (B, P)."""

    @abstractmethod
    def predict(self, output: torch.Tensor) -> torch.Tensor:
        """Raw output (B, K, H, W) -> the prediction the metric and the writers take."""

    @abstractmethod
    def metric(self) -> Metric:
        """A fresh metric."""

    def update_metric(
        self,
        metric: Metric,
        prediction: torch.Tensor,
        target: torch.Tensor,
        valid: torch.Tensor,
        extras: dict[str, torch.Tensor],
    ) -> None:
        """Score one batch of predictions; a task whose metric reads ``extras`` overrides this."""
        metric.update(prediction, target, valid)

    # -- inference strategies ----------------------------------------------------------------------------
    def tile_weights(self, output: torch.Tensor) -> torch.Tensor | None:
        """Weights (B, 1, h, w) of a tile's raw output when overlapping tiles are blended; None: a plain
        average of the raw outputs (logits, log depth ...)."""
        return None

    def rescale_output(self, output: torch.Tensor, scale_y: float, scale_x: float) -> torch.Tensor:
        """A raw output computed on inputs resized by (scale_y, scale_x) and brought back to the original
        size: values that are lengths in pixels (flow) are divided by the scale; others are unchanged."""
        return output

    # -- files -------------------------------------------------------------------------------------------
    def load_inputs(self, paths: list[Path]) -> list[torch.Tensor]:
        """Image files -> the model's inputs for one prediction, each (1, 3, H, W)."""
        if len(paths) != self.num_inputs:
            raise InputError(f"task {self.name!r} predicts from {self.num_inputs} image(s), got {len(paths)}")
        images = [load_image(p)[None] for p in paths]
        if any(im.shape != images[0].shape for im in images):
            raise InputError(f"the input images differ in size: {[tuple(im.shape[-2:]) for im in images]}")
        return images

    def check_output(self, path: Path) -> None:
        """Raise ``InputError`` before any work when ``path`` has a suffix ``write_prediction`` cannot write."""
        if path.suffix.lower() not in self.prediction_formats:
            raise InputError(
                f"{path}: task {self.name!r} writes {' or '.join(self.prediction_formats)} files, "
                f"not {path.suffix or 'files without a suffix'}"
            )

    @abstractmethod
    def write_prediction(self, prediction: torch.Tensor, path: Path, viz: Path | None = None) -> str:
        """Write one image's prediction (its ``predict`` output without the batch axis) to ``path`` (the
        raw values) and optionally a picture to ``viz``; returns a one-line description."""

    # -- report ------------------------------------------------------------------------------------------
    def summary(self, metrics: dict) -> str:
        """One line of the main numbers."""
        m = self.metric()
        return f"{m.primary} {metrics[m.primary]:.4f}"

    def eval_lines(self, metrics: dict) -> list[str]:
        """Lines ``winwin eval`` prints below its summary (e.g. the tables a benchmark reports); none here."""
        return []

    def report_lines(self, metrics: dict) -> list[str]:
        """Markdown lines (a table, notes) of the run report."""
        return []

    @abstractmethod
    def panels(self, sample: dict, prediction: torch.Tensor) -> list[Panel]:
        """Pictures of one validation sample (without the batch axis) and its full-resolution prediction."""

    def settings_dict(self) -> dict:
        return dataclasses.asdict(self.settings)
