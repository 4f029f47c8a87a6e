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
* **Integrity: a CRC-32 of every array** (``PreparedData.checksum``), taken by the store when it puts the
  object and by the trial after training; a trial that finds them different fails, naming both. Both
  end up as tags of the trial's MLflow run (with the object's id), so one can see which trials shared
  which object and that none changed it.
* ``hartune train`` (no Ray) and a trial without a store (``StageContext.data_store`` unset) prepare in
  their own process; the arrays are read-only there too, so the recipe runs the same code either way.
"""

from __future__ import annotations

import threading
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

    def __init__(self) -> None:
        self._by_config: dict[
            str, tuple[list[Any], str, str]
        ] = {}  # config JSON -> ([ref], checksum, fingerprint)
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
            if key not in self._by_config:
                data = prepare(cfg)
                self._by_config[key] = ([ray.put(data)], data.checksum(), data.fingerprint)
                del data  # the store's heap keeps no copy: the object store holds the one
            refs, checksum, _ = self._by_config[key]
            return refs, checksum

    def objects(self) -> dict[str, tuple[str, str]]:
        """Object id -> (data fingerprint, data config JSON), of every object put so far."""
        return {refs[0].hex(): (fp, key) for key, (refs, _, fp) in self._by_config.items()}


def store_name(parent_run: str) -> str:
    return f"hartune-data-{parent_run}"


def start(parent_run: str) -> Any:
    """The run's store actor (found again if this driver already started it)."""
    import ray

    actor = ray.remote(num_cpus=0, max_concurrency=4)(DataStore)
    return actor.options(name=store_name(parent_run), get_if_exists=True).remote()


def stop(handle: Any) -> None:
    """Kill the store: its objects are freed with it."""
    import ray

    ray.kill(handle, no_restart=True)


def shared_data(store: str | None, cfg: DataConfig) -> Shared:
    """The prepared data of ``cfg``: from the run's store ``store`` (zero-copy), or prepared here when
    there is none."""
    if store is None:
        from hartune.data import prepare

        data = prepare(cfg)
        return Shared(data, None, data.checksum())
    import ray

    refs, checksum = ray.get(ray.get_actor(store).get.remote(cfg))
    return Shared(ray.get(refs[0]), refs[0].hex(), checksum)
