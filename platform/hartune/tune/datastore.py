"""Prepared data once per node: one copy in Ray's object store, read zero-copy by every trial.

Without it each trial loads and windows its own copy (4 trials per GPU x 8 GPUs: 32 copies of PAMAP2's
windows). Here a run starts one small actor, the store, named after the run's parent MLflow run. A trial
asks it for its data config; the first ask prepares the data (``hartune.data.prepare``) inside the actor
and ``ray.put``s it; every later ask, from any trial of any stage, gets the same object. A trial's
``ray.get`` maps the arrays from its node's object store without a copy (Ray copies the object once to
each node that reads it); they are read-only, and the recipe's tensors over them are guarded too
(``hartune.data.tensors``). Objects are keyed by the data config (its JSON): the fingerprint would not
do, as it hashes the windows before normalisation.

Choices, and the alternatives:

* **Who puts it: the store actor, on the first ask** (lazily). The driver ``ray.put``-ing every dataset
  before the stage would need every data config up front, also those a search samples; and an object put
  by a trial would be lost with that trial's worker (its owner). The actor owns every object for the
  run's life and is killed at the end of the run, which frees them. It takes no CPU from the trials
  (``num_cpus=0``); a trial waits (holding its CPU, idle) while the first ask prepares.
* **How many it keeps: the ``keep`` data configs asked for last** (the runner passes the spec's
  ``max_concurrent``: at most that many are in use at once). An older one is dropped from the store;
  trials still reading it keep it alive until they end, and a later ask prepares it again. Keeping every
  config would hold one copy per fold of a cross-validation (8 for leave-one-subject-out on PAMAP2)
  where one trial per CPU held one each before; ``keep=None`` keeps them all.
* **Integrity: a CRC-32 of every array** (``PreparedData.checksum``), taken by the store when it puts the
  object and by the trial after training; a trial that finds them different fails, naming both. Both
  end up as tags of the trial's MLflow run (with the object's id), so one can see which trials shared
  which object and that none changed it.
* ``hartune train`` (no Ray) and a trial without a store (``StageContext.data_store`` unset) prepare in
  their own process; the arrays are read-only there too, so the recipe runs the same code either way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hartune.data import DataConfig, PreparedData


class SharedDataChanged(RuntimeError):
    """The arrays a trial read are not the ones the store put: something wrote into shared memory."""


@dataclass(frozen=True)
class Shared:
    """What a trial got: the data, the id of its object in Ray's store (``None``: prepared locally) and
    the arrays' checksum when they were put."""

    data: PreparedData
    object_id: str | None
    checksum: str

    def verify(self) -> str:
        """The arrays' checksum now; raises ``SharedDataChanged`` if it is not the one they were put with."""
        now = self.data.checksum()
        if now != self.checksum:
            raise SharedDataChanged(
                f"shared data {self.object_id} changed while the trial ran: checksum {now}, "
                f"put with {self.checksum}; some code wrote into the read-only arrays"
            )
        return now


class DataStore:
    """The actor (``ray.remote`` applied in ``start``): data config -> (object ref, checksum)."""

    def __init__(self, keep: int | None = None) -> None:
        self.keep = keep
        # config JSON -> ([ref], checksum, fingerprint), the one asked for last at the end
        self._by_config: OrderedDict[str, tuple[list[Any], str, str]] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, cfg: DataConfig) -> tuple[list[Any], str]:
        """``([ref], checksum)``: the ref inside a list, so that Ray hands the ref over, not the data.
        Asks for different configs prepare in parallel (a threaded actor); asks for one config wait for
        the first."""
        import ray

        from hartune.data import prepare

        key = cfg.model_dump_json()
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            entry = self._by_config.get(key)
            if entry is None:
                data = prepare(cfg)
                entry = ([ray.put(data)], data.checksum(), data.fingerprint)
                del data  # the store's heap keeps no copy: the object store holds the one
            with self._guard:
                self._by_config[key] = entry
                self._by_config.move_to_end(key)
                while self.keep is not None and len(self._by_config) > self.keep:
                    self._by_config.popitem(last=False)
        return entry[0], entry[1]

    def objects(self) -> dict[str, tuple[str, str]]:
        """Object id -> (data fingerprint, data config JSON), of every object the store keeps."""
        return {refs[0].hex(): (fp, key) for key, (refs, _, fp) in self._by_config.items()}


def store_name(parent_run: str) -> str:
    return f"hartune-data-{parent_run}"


def start(parent_run: str, keep: int | None = None) -> Any:
    """The run's store actor (found again if this driver already started it)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = ray.remote(num_cpus=0, max_concurrency=4)(DataStore)
    # On the driver's node, whose loss ends the run anyway: a lost worker node must not take the store
    # (and the objects it owns) with it, or the trial retried elsewhere fails on it (issue 21, point 4).
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return actor.options(name=store_name(parent_run), get_if_exists=True, scheduling_strategy=here).remote(keep)


def stop(handle: Any) -> None:
    """Kill the store: its objects are freed with it."""
    import ray

    ray.kill(handle, no_restart=True)


def shared_data(store: str | None, cfg: DataConfig) -> Shared:
    """The prepared data of ``cfg``: from the run's store ``store`` (zero-copy), or prepared here when
    there is none, or when the store or the node holding its objects is gone."""
    if store is None:
        from hartune.data import prepare

        data = prepare(cfg)
        return Shared(data, None, data.checksum())
    import ray
    from ray.exceptions import ObjectLostError, RayActorError

    try:
        refs, checksum = ray.get(ray.get_actor(store).get.remote(cfg))
        return Shared(ray.get(refs[0]), refs[0].hex(), checksum)
    except (RayActorError, ObjectLostError):  # the store or its node went away: the trial prepares its own
        return shared_data(None, cfg)
