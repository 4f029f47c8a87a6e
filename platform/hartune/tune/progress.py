"""What a person sees while ``hartune run`` works: one compact view per stage, instead of Ray's reporter.

A stage's view counts its trials (finished, running, pending, stopped early, failed, out of the planned
total), holds the best value of the stage metric so far and its trial, the elapsed time, and an ETA from
the trials ended so far (elapsed / ended x remaining: the measured throughput, concurrency included).

* On a terminal (:class:`LiveView`) it is a live ``rich`` panel, with each running trial's epoch (or
  its generator training, read from the trial's progress file) and bars for other long steps.
* Piped or in CI (:class:`LineView`) it is one line per ended trial and one summary line per stage.

:class:`ProgressCallback` is the Tune callback that feeds it, on the driver. Tune pickles a tuner's
callbacks with the experiment (for ``Tuner.restore``), so the callback holds no view: it reports to
the view the runner made active (:func:`activate`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ray.tune import Callback

from hartune import progress
from hartune.tune.outcomes import FINAL, TUNE_KEYS, point_label

PROGRESS_FILE = "hartune_progress.json"  # a trial's long step (generator training), for the live view


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = round(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def trial_label(config: Mapping[str, Any]) -> str:
    """``CNN-watch-s0`` for a grid trial, ``lr=0.0016, dropout=0.27 @ watch-s0`` for a sampled point."""
    where = f"{config.get('dataset')}-s{config.get('seed')}" + (f"-f{config['fold']}" if config.get("fold") is not None else "")
    point = {k: v for k, v in config.items() if k not in TUNE_KEYS}
    return f"{point_label(point)} @ {where}" if point else f"{config.get('variant')}-{where}"


def stage_line(name: str, counts: Mapping[str, int], best: str | None, elapsed_s: float | None = None) -> str:
    """The summary line of one stage, as the CLI prints it and the parent run's description holds it."""
    took = f" in {duration(elapsed_s)}" if elapsed_s is not None else ""
    return (f"stage {name}: {counts.get('finished', 0)} finished, {counts.get('stopped', 0)} stopped early, "
            f"{counts.get('failed', 0)} failed{took}; {best or 'no finished trial'}")


@dataclass
class StageState:
    """The counts, best and clock of the stage being run."""

    name: str
    kind: str
    metric: str
    mode: str
    total: int
    started: float = field(default_factory=time.monotonic)
    running: dict[str, str] = field(default_factory=dict)  # trial id -> label
    epochs: dict[str, int] = field(default_factory=dict)  # trial id -> last reported epoch
    folders: dict[str, str] = field(default_factory=dict)  # trial id -> its working folder
    counts: dict[str, int] = field(default_factory=lambda: {"finished": 0, "stopped": 0, "failed": 0})
    best: tuple[float, str] | None = None  # of the trials that finished (their best epoch's value)

    @property
    def ended(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        return max(self.total - self.ended - len(self.running), 0)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def eta_s(self) -> float | None:
        if not self.ended:
            return None
        return self.elapsed_s() / self.ended * max(self.total - self.ended, 0)

    def offer(self, value: Any, label: str) -> None:
        if not isinstance(value, (int, float)) or math.isnan(value):
            return
        if self.best is None or (value > self.best[0] if self.mode == "max" else value < self.best[0]):
            self.best = (float(value), label)

    def counts_text(self) -> str:
        c = self.counts
        return (f"{c['finished']}/{self.total} done, {len(self.running)} running, {self.pending} pending, "
                f"{c['stopped']} stopped early, {c['failed']} failed")

    def best_text(self) -> str:
        return f"best {self.metric} {self.best[0]:.4f} ({self.best[1]})" if self.best else f"best {self.metric}: -"

    def clock_text(self) -> str:
        eta = self.eta_s()
        return f"{duration(self.elapsed_s())} elapsed" + (f", ETA {duration(eta)}" if eta is not None else "")


class RunView:
    """A run's progress as the runner reports it; this base shows nothing (a programmatic run)."""

    stage: StageState | None = None

    def stage_start(self, name: str, kind: str, metric: str, mode: str, total: int) -> None:
        self.stage = StageState(name, kind, metric, mode, total)

    def add_trials(self, n: int) -> None:
        """More trials than planned (a stage's refit)."""
        if self.stage is not None:
            self.stage.total += n

    def trial_start(self, trial_id: str, config: Mapping[str, Any], folder: str | None = None) -> None:
        st = self.stage
        if st is not None:
            st.running[trial_id] = trial_label(config)
            if folder:
                st.folders[trial_id] = folder

    def trial_result(self, trial_id: str, config: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        st = self.stage
        if st is not None:
            st.epochs[trial_id] = int(result.get("epoch", 0) or 0)

    def trial_end(self, trial_id: str, config: Mapping[str, Any], status: str, result: Mapping[str, Any]) -> None:
        st = self.stage
        if st is None:
            return
        st.running.pop(trial_id, None)
        st.counts[status] += 1
        if status == "finished":
            st.offer(result.get(st.metric), trial_label(config))
        self.show_trial(st, trial_label(config), status, result)

    def show_trial(self, st: StageState, label: str, status: str, result: Mapping[str, Any]) -> None:
        pass

    def stage_end(self, line: str) -> None:
        self.stage = None

    def close(self) -> None:
        pass


class LineView(RunView):
    """Piped output and CI: one line per ended trial (``quiet``: none), one line per stage."""

    def __init__(self, out: IO[str] | None = None, quiet: bool = False) -> None:
        self.out, self.quiet = out or sys.stdout, quiet

    def print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def show_trial(self, st: StageState, label: str, status: str, result: Mapping[str, Any]) -> None:
        if self.quiet:
            return
        value = result.get(st.metric)
        shown = f" ({st.metric} {value:.4f})" if isinstance(value, (int, float)) and status != "failed" else ""
        what = {"finished": "finished", "stopped": f"stopped early at epoch {result.get('epoch', '?')}",
                "failed": "failed"}[status]
        best = f"best {st.best[0]:.4f} {st.best[1]}" if st.best else "no best yet"
        eta = st.eta_s()
        clock = duration(st.elapsed_s()) + (f", ETA {duration(eta)}" if eta else "")
        self.print(f"  {st.name} [{st.ended}/{st.total}] {label} {what}{shown}; {best}; {clock}")

    def stage_end(self, line: str) -> None:
        self.print(line)
        super().stage_end(line)


class LiveView(RunView):
    """A terminal: a live ``rich`` panel of the stage, redrawn four times a second; the stage's summary
    line stays on screen when it ends. It is also the sink of long steps (a bar each, under the panel):
    a terminal has one live display."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.tasks: list[progress.Task] = []
        self.live = Live(console=self.console, refresh_per_second=4, transient=True, get_renderable=self.render)
        self.live.start()

    # the sink of long steps
    def start(self, task: progress.Task) -> None:
        self.tasks.append(task)

    def update(self, task: progress.Task) -> None:
        pass  # drawn from the task itself at the next refresh

    def end(self, task: progress.Task) -> None:
        if task in self.tasks:
            self.tasks.remove(task)

    def render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        parts: list[Any] = [self.stage_panel(self.stage)] if self.stage is not None else []
        if self.tasks:
            bars = Table.grid(padding=(0, 1))
            for t in list(self.tasks):
                size = (lambda v: f"{v / 1e6:.1f} MB") if t.unit == "B" else (lambda v: f"{v:g}")
                done = size(t.completed) + (f"/{size(t.total)}" if t.total else "")
                bars.add_row(t.description, ProgressBar(total=t.total, completed=t.completed, width=30), done,
                             duration(t.elapsed_s()))
            parts.append(bars)
        return Group(*parts)

    def stage_panel(self, st: StageState) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        bar = Table.grid(padding=(0, 1))
        bar.add_row(ProgressBar(total=max(st.total, 1), completed=st.ended, width=40), f"{100 * st.ended // max(st.total, 1)}%")
        lines: list[Any] = [bar, Text(st.counts_text()), Text(st.best_text()), Text(st.clock_text())]
        for tid, label in list(st.running.items())[:8]:
            lines.append(Text(f"  running {label}: {self.trial_step(st, tid)}", style="dim"))
        return Panel(Group(*lines), title=f"stage {st.name} ({st.kind})", expand=False)

    @staticmethod
    def trial_step(st: StageState, trial_id: str) -> str:
        """The running trial's epoch, or the long step it reported in its progress file."""
        folder = st.folders.get(trial_id)
        if folder:
            try:
                step = json.loads((Path(folder) / PROGRESS_FILE).read_text())
                if step.get("active"):
                    total = f"/{step['total']:g}" if step.get("total") else ""
                    return f"{step['description']} {step['completed']:g}{total}"
            except (OSError, ValueError, KeyError, TypeError):
                pass
        epoch = st.epochs.get(trial_id)
        return f"epoch {epoch}" if epoch else "starting"

    def stage_end(self, line: str) -> None:
        self.console.print(line, highlight=False)
        super().stage_end(line)

    def close(self) -> None:
        self.live.stop()


def make_view(quiet: bool = False, verbose: bool = False, out: IO[str] | None = None) -> RunView:
    """A live panel on a terminal (not in CI, not with Ray's own output on), else lines."""
    out = out or sys.stdout
    if not quiet and not verbose and out.isatty() and not os.environ.get("CI"):
        return LiveView()
    return LineView(out, quiet=quiet)


# -- the Tune side -------------------------------------------------------------------------------------
_active: RunView = RunView()


def activate(view: RunView | None) -> RunView:
    """Make ``view`` the one every :class:`ProgressCallback` reports to; returns the previous one."""
    global _active
    previous, _active = _active, view or RunView()
    return previous


def active() -> RunView:
    return _active


def trial_folder(trial: Any) -> str | None:
    """The trial's working folder on this node (where its progress file is written), if Tune says."""
    try:
        return str(trial.storage.trial_working_directory)
    except AttributeError:
        return None


class ProgressCallback(Callback):
    """Feeds the active view from the driver: trial start, each result, the end and how it ended."""

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _active.trial_start(trial.trial_id, trial.config, trial_folder(trial))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        _active.trial_result(trial.trial_id, trial.config, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        _active.trial_end(trial.trial_id, trial.config, "finished" if last.get(FINAL) else "stopped", last)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        _active.trial_end(trial.trial_id, trial.config, "failed", trial.last_result or {})


# -- long steps ----------------------------------------------------------------------------------------
class LineSink:
    """Long steps in piped output: a line when a download starts and ends; other steps stay silent (a
    parse or a t-SNE ends quickly enough, and their results are printed anyway)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout

    def start(self, task: progress.Task) -> None:
        if task.unit == "B":
            print(f"{task.description} ...", file=self.out, flush=True)

    def update(self, task: progress.Task) -> None:
        pass

    def end(self, task: progress.Task) -> None:
        if task.unit == "B":
            print(f"{task.description}: {task.completed / 1e6:.1f} MB in {duration(task.elapsed_s())}",
                  file=self.out, flush=True)


def make_sink(quiet: bool = False, out: IO[str] | None = None) -> progress.Sink:
    """Bars for the long steps of a command without stages (``hartune report``)."""
    out = out or sys.stdout
    if quiet:
        return progress.NullSink()
    return LiveView() if out.isatty() and not os.environ.get("CI") else LineSink(out)


class TrialFileSink:
    """Inside a trial: the current long step written (at most twice a second) to the trial's working
    folder, where the driver's live view reads it (on one node; a cluster's remote trials just show
    their epochs)."""

    def __init__(self, folder: str | Path, every_s: float = 0.5) -> None:
        self.path, self.every_s, self.last = Path(folder) / PROGRESS_FILE, every_s, 0.0

    def write(self, task: progress.Task, active: bool) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"description": task.description, "completed": task.completed,
                                       "total": task.total, "active": active}))
            tmp.replace(self.path)
        except OSError:  # only a display
            pass

    def start(self, task: progress.Task) -> None:
        self.write(task, True)

    def update(self, task: progress.Task) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            self.write(task, True)

    def end(self, task: progress.Task) -> None:
        self.write(task, False)
