"""imgprep: image folders to training-ready tensors, from Python.

    import imgprep
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    summary = imgprep.run("photos", "out", config)        # what `imgprep run` does
    imgprep.run("photos", "out", config, shard="1/4")     # a part, for imgprep.merge("out")
    images, status = imgprep.process(["a.jpg", "b.png"], config)

Settings have the command's names with underscores (``io_threads`` for ``--io-threads``) and its
rules; a bad value raises ValueError with the command's message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from . import _imgprep

__all__ = ["Config", "run", "plan", "merge", "process", "settings", "Loader", "RandomResizedCrop",
           "RandomHorizontalFlip", "UsageError", "InputError", "OutputError", "WorkerError",
           "GpuError"]

UsageError = _imgprep.UsageError      # a ValueError
InputError = _imgprep.InputError      # a ValueError: INPUT is unusable
OutputError = _imgprep.OutputError    # an OSError: OUT or the disk
WorkerError = _imgprep.WorkerError    # a RuntimeError: procs workers could not run
GpuError = _imgprep.GpuError          # a RuntimeError

# The procs engine starts worker processes from the imgprep executable beside this package.
_HERE = Path(__file__).resolve().parent
if (_HERE / "imgprep").is_file():
    _imgprep.set_worker_executable(str(_HERE / "imgprep"))


def settings() -> list[dict]:
    """Every setting: name (as on the command line), group, help, flag, run_only."""
    return _imgprep.settings()


def _text(name: str, value: Any) -> str:
    """A Python value as the command line writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(name, v) for v in value)
    if isinstance(value, (int, float, str, os.PathLike)):
        return str(value)
    raise TypeError(f"{name}: expected a str, number, bool or sequence, got {type(value).__name__}")


class Config:
    """Resolved settings: the defaults, then the preset, then each keyword setting.

    Config(preset="imagenet", resize="shorter:256", dtype="uint8") is
    ``--preset imagenet --resize shorter:256 --dtype uint8``. Flags take True (given) or False
    (not given): Config(format="images", strip=True). Values may be numbers and sequences:
    mean=(0.5, 0.5, 0.5).
    """

    def __init__(self, preset: str | None = None, **settings: Any):
        self._preset = preset or ""
        self._settings = {k: v for k, v in settings.items() if v is not None}
        overrides = [(k, _text(k, v)) for k, v in self._settings.items()]
        self._options = _imgprep.resolve(self._preset, overrides, "run")

    def replace(self, **settings: Any) -> "Config":
        """A Config with these settings added to (or replacing) this one's."""
        return Config(self._preset or None, **{**self._settings, **settings})

    def to_dict(self) -> dict:
        """Every setting resolved, as meta.json's "config" records it."""
        return json.loads(self._options.to_json())

    @property
    def preset(self) -> str | None:
        return self._preset or None

    def __reduce__(self):
        # The options it wraps are the C++ module's and do not pickle: a Config travels (to Ray
        # tasks, worker processes) as its preset and settings, and is resolved again there.
        return (_config_from, (self._preset or None, dict(self._settings)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        given = [f"preset={self._preset!r}"] if self._preset else []
        given += [f"{k}={v!r}" for k, v in self._settings.items()]
        return f"Config({', '.join(given)})"


def _config_from(preset: str | None, settings: dict) -> Config:
    return Config(preset, **settings)


def run(input: str | os.PathLike, out: str | os.PathLike, config: Config | None = None,
        **run_options: Any) -> dict:
    """Does what ``imgprep run INPUT -o OUT`` does, with the same files byte for byte.

    run_options are settings too (resume=True, quiet=True, threads=4, engine="cpu", ...).
    Returns the summary: inputs, processed, failed, failed_in_all, skipped, seconds,
    images_per_second, busy_seconds, warnings, already_complete, stopped_early, interrupted,
    resumable_from, output (meta.json's "output"), manifest and exit_code (the command's).
    Ctrl-C stops it as it stops the command (complete shards are kept; resume=True continues)
    and then raises KeyboardInterrupt. Bad images are failed rows, not exceptions.
    """
    config = (config or Config()).replace(**run_options)
    summary = _imgprep.run_job(config._options, os.fspath(input), os.fspath(out))
    summary["output"] = json.loads(summary["output"])
    return summary


def process(paths: Iterable[str | os.PathLike], config: Config | None = None,
            threads: int | None = None):
    """The tensors of files, in one numpy array, and a status per input.

    Returns (images, status): images has shape (N, 3, H, W) (or (N, H, W, 3) for
    layout="nhwc") and the config's dtype, owns its memory, and holds zeros where an input
    failed; status[i] is None when input i succeeded, else why it failed. The config must give
    one output size (a crop, WxH or letterbox resize, or a preset). The GIL is released while
    the engine works.
    """
    config = config or Config()
    if threads is not None:
        config = config.replace(threads=threads)
    paths = [os.fspath(p) for p in paths]
    return _imgprep.process(paths, config._options)


def plan(input: str | os.PathLike, out: str | os.PathLike, config: Config | None = None,
         **run_options: Any) -> dict:
    """What ``run`` would take, without decoding or writing anything: the engine line, its
    inputs (after ``shard="K/N"``), first_input (the position of its first in the whole list),
    all_inputs and fingerprint (of the whole ordered list: paths and labels), classes,
    has_labels, skipped, and out (the folder it would write: OUT, or OUT's part folder)."""
    config = (config or Config()).replace(**run_options)
    return _imgprep.plan(config._options, os.fspath(input), os.fspath(out))


def merge(out: str | os.PathLike) -> dict:
    """Does what ``imgprep merge OUT`` does: joins the parts that runs with ``shard="K/N"``
    wrote into OUT into one dataset there, row for row what one run over all the inputs writes.
    Raises UsageError (a ValueError) naming the part that is missing, incomplete, given twice or
    made with other settings or inputs. Returns parts, format, inputs, failed, files (shards or
    image files taken into OUT) and copied (of those, copied where hard links were refused)."""
    return _imgprep.merge(os.fspath(out))


from .loader import Loader, RandomHorizontalFlip, RandomResizedCrop  # noqa: E402
