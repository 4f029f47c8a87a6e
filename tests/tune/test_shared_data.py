"""Prepared data once per node (``hartune.tune.datastore``): the store puts one object per data config,
trials read it zero-copy and cannot write into it, and a real run's concurrent trials (one of them
augmenting) read the same object and leave it as it was put."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hartune.data import DataConfig, WindowConfig, prepare
from hartune.data.tensors import ReadOnlyError, split_tensors
from hartune.spec import load_spec
from hartune.tune import datastore
from spec_runs import run_spec, watch_entry

TINY = {
    "timesteps": 50,
    "epochs": 5,
    "batch_size": 64,
    "denoiser": {"width": 16, "channel_mult": [1, 2]},
    "sampling": {"sampler": "ddim", "ddim_steps": 5},
}  # the blend test's tiny generator


@pytest.fixture
def store(ray_local):
    handle = datastore.start("test-shared-data")
    yield datastore.store_name("test-shared-data")
    datastore.stop(handle)


def test_two_workers_read_one_object_and_it_holds_what_prepare_gives(ray_local, store, watch_cfg) -> None:
    def read_in_task(store: str, cfg: DataConfig) -> tuple[str, str, bool]:
        """In a Ray worker (defined here, so Ray ships it by value): (object id, checksum now, whether
        x is writable)."""
        shared = datastore.shared_data(store, cfg)
        return shared.object_id, shared.data.checksum(), shared.data.train.x.flags.writeable

    task = ray_local.remote(num_cpus=1)(read_in_task)
    got = ray_local.get([task.remote(store, watch_cfg), task.remote(store, watch_cfg)])
    (id_a, crc_a, writable_a), (id_b, crc_b, writable_b) = got
    assert id_a == id_b
    assert crc_a == crc_b == prepare(watch_cfg).checksum()  # the object holds the arrays prepare makes
    assert not writable_a and not writable_b


def test_one_object_per_data_config(ray_local, store, watch_cfg) -> None:
    # same windows and split, so the same fingerprint, but other arrays: a config of its own
    unnormalised = DataConfig(window=watch_cfg.window, normalize="none")
    ids = [datastore.shared_data(store, cfg).object_id for cfg in (watch_cfg, unnormalised, watch_cfg)]
    assert ids[0] == ids[2] != ids[1]
    objects = ray_local.get(ray_local.get_actor(store).objects.remote())
    assert set(objects) == {ids[0], ids[1]}
    assert objects[ids[0]][0] == objects[ids[1]][0]  # one fingerprint


def test_the_store_keeps_the_configs_asked_for_last(ray_local, watch_cfg) -> None:
    handle = datastore.start("test-shared-data-keep", keep=1)
    try:
        name = datastore.store_name("test-shared-data-keep")
        other = DataConfig(window=WindowConfig(length=100, stride=50))
        first = datastore.shared_data(name, watch_cfg)
        assert datastore.shared_data(name, watch_cfg).object_id == first.object_id
        datastore.shared_data(name, other)  # keep=1: watch_cfg's object leaves the store ...
        kept = [key for _, key in ray_local.get(handle.objects.remote()).values()]
        assert kept == [other.model_dump_json()]
        assert first.data.checksum() == first.checksum  # ... while this reader still has it
        again = datastore.shared_data(name, watch_cfg)  # prepared and put again
        assert again.object_id != first.object_id and again.checksum == first.checksum
    finally:
        datastore.stop(handle)


def test_shared_arrays_and_the_recipe_tensors_over_them_refuse_writes(ray_local, store, watch_cfg) -> None:
    shared = datastore.shared_data(store, watch_cfg)
    with pytest.raises(ValueError, match="read-only"):
        shared.data.train.x[0, 0, 0] = 1.0
    (x, y), _, _ = split_tensors(shared.data)
    assert x.data_ptr() == shared.data.train.x.__array_interface__["data"][0]  # no copy
    with pytest.raises(RuntimeError, match="would write into shared, read-only data"):
        x.add_(1.0)
    for write in (
        lambda: y.__setitem__(0, 0),
        lambda: x[0:2].zero_(),
        lambda: x.unbind()[0].fill_(0),
        lambda: torch.relu_(x),
        lambda: torch.add(x, 1, out=x),
    ):
        with pytest.raises(ReadOnlyError, match="would write into shared, read-only data"):
            write()
    with pytest.raises(ValueError, match="read-only"):
        x.numpy()[0, 0, 0] = 1.0
    batch = x[torch.tensor([0, 1])]  # what the training loop takes: a new tensor, the trial's own
    batch.mul_(2.0)
    mixed = torch.cat([x, torch.zeros(1, *x.shape[1:])])  # augmentation's ``mix``: a new tensor too
    mixed[0].zero_()
    assert shared.verify() == shared.checksum


def test_a_checksum_other_than_the_one_put_fails_the_check(watch_cfg) -> None:
    shared = datastore.shared_data(None, watch_cfg)  # no store: prepared in this process
    assert shared.object_id is None and shared.verify() == shared.checksum
    with pytest.raises(datastore.SharedDataChanged, match="changed while the trial ran"):
        datastore.Shared(shared.data, "some-object", "00000000").verify()


def test_prepare_gives_read_only_arrays_and_take_gives_writable_ones(watch_cfg) -> None:
    data = prepare(watch_cfg)
    assert not any(a.flags.writeable for a in data.arrays())
    part = data.train.take(np.arange(3))  # a training fraction, a subsample: the trial's own arrays
    part.x[0] = 0.0
    assert data.checksum() == prepare(watch_cfg).checksum()


SPEC = {
    "name": "shareddata",
    "seeds": [0],
    "max_concurrent": 2,
    "datasets": {"watch": watch_entry(epochs=2, imbalance=5)},
    "models": {"cnn": {"name": "cnn", "channels": [16, 16], "hidden": 32}},
    "stages": [
        {
            "name": "grid",
            "kind": "grid",
            "variants": {
                "plain": {"model": "cnn"},
                "augmented": {"model": "cnn", "augment": {"generator": TINY, "ratio": 1, "mode": "mix"}},
            },
        }
    ],
}


@pytest.mark.slow
def test_concurrent_trials_of_a_run_read_one_object_and_augmenting_leaves_it_unchanged(
    tmp_path, ray_local
) -> None:
    rc, c = run_spec(tmp_path, SPEC)
    assert rc == 0
    exp = c.get_experiment_by_name("shareddata")
    trials = {
        r.data.tags["hartune.variant"]: r
        for r in c.search_runs([exp.experiment_id], "tags.`hartune.level` = 'trial'")
    }
    plain, augmented = trials["plain"], trials["augmented"]
    assert augmented.data.metrics["synthetic_windows"] > 0  # it did augment
    # the two ran at the same time
    assert plain.info.start_time < augmented.info.end_time and augmented.info.start_time < plain.info.end_time
    ids = {t.data.tags["hartune.data_object"] for t in (plain, augmented)}
    assert len(ids) == 1 and ids != {"local"}
    # what each read, after its training, is what prepare gives: the augmenting trial changed nothing
    spec, _ = load_spec(tmp_path / "shareddata.yaml")
    expected = prepare(spec.run_config("watch", {}, 0, "").data).checksum()
    assert (
        plain.data.tags["hartune.data_checksum"] == augmented.data.tags["hartune.data_checksum"] == expected
    )
