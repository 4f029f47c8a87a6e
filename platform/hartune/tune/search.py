"""Ray Tune's OptunaSearch, telling Optuna which trials a scheduler cut short.

Ray's ``OptunaSearch.on_trial_complete`` tells Optuna COMPLETE with whatever the last result holds, so a
trial that ASHA stopped after one epoch enters the study as a finished trial with its epoch-1 score, and
TPE models cheap partial scores as if they were final. Our trainable ends with a report flagged
``hartune_final``; a trial whose last result lacks it did not finish its own training and is told as
PRUNED. Optuna keeps its per-epoch intermediate values, and TPE ranks pruned trials below complete ones
(by how far they got, then by their last value).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

from hartune.tracking.retry import DEFAULT_RETRY_S, with_retry
from hartune.tracking.secrets import seal, unseal
from hartune.tracking.store import first_use_lock, redact
from hartune.tune.outcomes import FINAL
from hartune.tune.samplers import make_sampler
from hartune.tune.space import SearchSpace

logger = logging.getLogger(__name__)


class PrunedAwareOptunaSearch(OptunaSearch):
    """OptunaSearch that tells Optuna PRUNED for trials stopped before their final report."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_step: dict[str, int] = {}  # trial id -> last step reported to Optuna

    def optuna_number(self, trial_id: str) -> int | None:
        """The Optuna trial number behind a Tune trial id (what optuna-dashboard and reports show)."""
        trial = self._ot_trials.get(trial_id)
        return trial.number if trial is not None else None

    def _told(self, trial_id: str) -> bool:
        """Optuna already holds this trial's outcome: after a resume, Tune may replay a trial that had
        finished after its last experiment-state snapshot (the study, in its storage, kept the tell)."""
        trial = self._ot_trials.get(trial_id)
        if trial is None:
            return False
        return self._ot_study._storage.get_trial(trial._trial_id).state.is_finished()

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        # The final report repeats the last epoch with test metrics: not a point of the learning curve.
        if result.get(FINAL) or result.get(TRAINING_ITERATION) == self._last_step.get(trial_id):
            return
        if self._told(trial_id):
            return
        super().on_trial_result(trial_id, result)
        self._last_step[trial_id] = result.get(TRAINING_ITERATION)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if self._told(trial_id):
            self._completed_trials.add(trial_id)
            self._last_step.pop(trial_id, None)
            return
        if error or not result or result.get(FINAL) or trial_id in self._completed_trials:
            self._last_step.pop(trial_id, None)
            super().on_trial_complete(trial_id, result=result, error=error)
            return
        # Tune never passes the result on which a scheduler said STOP to on_trial_result: report it now,
        # so that the study holds the curve up to the stop (and its last value, as the pruned value).
        self.on_trial_result(trial_id, result)
        self._last_step.pop(trial_id, None)
        try:
            self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
        except (RuntimeError, ValueError) as exc:  # as the parent: GridSampler's study.stop() raises
            # RuntimeError outside optimize() once its grid is done; the state is stored before that
            logger.warning(exc)
        self._completed_trials.add(trial_id)


def make_searcher(
    sampler_name: str,
    seed: int,
    space: SearchSpace,
    metric: str,
    mode: str,
    storage: str | OptunaStore | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
) -> PrunedAwareOptunaSearch:
    """The searcher of one search stage.

    Which side holds the space: for ``grid`` the searcher does (``space.to_optuna()``, enumerated by
    GridSampler) and the Tuner's ``param_space`` must not contain the searched keys; for every other
    sampler the Tuner's ``param_space`` must hold ``space.to_tune()``, which OptunaSearch converts into
    the same distributions as ``space.to_optuna()``. ``storage`` is an Optuna storage or an RDB URL
    (``sqlite:///...``, ``postgresql://...``) where the study persists (optuna-dashboard reads it);
    an :class:`OptunaStore` also says how long an outage of it is waited out.
    """
    sampler = make_sampler(sampler_name, seed, space)
    if isinstance(storage, str):
        storage = OptunaStore(storage)
    if isinstance(storage, OptunaStore):
        storage = RetryingRDBStorage(storage.url, storage.retry_s)
    return PrunedAwareOptunaSearch(
        space=space.to_optuna() if sampler_name == "grid" else None,
        metric=metric,
        mode=mode,
        sampler=sampler,
        storage=storage,
        study_name=study_name,
    )


@dataclass(frozen=True)
class OptunaStore:
    """Where a stage's study persists and how long an outage of it is waited out (the spec's
    ``tracking.optuna_storage`` and ``tracking.retry_s``); opened only by a stage that searches."""

    url: str
    retry_s: float = DEFAULT_RETRY_S


class RetryingRDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage whose every storage call waits out a database outage (a PostgreSQL restart)
    for ``retry_s`` seconds (the spec's ``tracking.retry_s``; ``hartune.tracking.retry``), then fails
    with one line naming the storage. SQLAlchemy's ``pool_pre_ping`` (Optuna's default) replaces the
    connections the restart broke. Picklable like its parent (Tune saves the searcher)."""

    def __init__(self, url: str, retry_s: float = DEFAULT_RETRY_S) -> None:
        self.retry_s = retry_s
        with first_use_lock(url):  # two runs at once on a new SQLite file: one creates the tables
            with_retry(
                lambda: optuna.storages.RDBStorage.__init__(self, url), retry_s, self._store(url), "connect"
            )

    def __getstate__(self) -> dict[Any, Any]:
        """What Tune pickles into the run's storage (the searcher's state, ``searcher-state-*.pkl``):
        the URL without its password, whose real value stays in the cluster's key-value store
        (``hartune.tracking.secrets``; the runner seals it before a stage starts or is restored)."""
        return {**super().__getstate__(), "url": seal(self.url)}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__({**state, "url": unseal(state["url"])})

    @staticmethod
    def _store(url: str) -> str:
        return f"Optuna storage {redact(url)}"


def _retried(name: str) -> Any:
    plain = getattr(optuna.storages.RDBStorage, name)

    def method(self: RetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return with_retry(lambda: plain(self, *args, **kwargs), self.retry_s, self._store(self.url), name)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = plain.__doc__
    return method


for _name, _attr in vars(optuna.storages.BaseStorage).items():
    if callable(_attr) and not _name.startswith("_"):
        setattr(RetryingRDBStorage, _name, _retried(_name))
