"""Credentials of the tracking URI, kept out of what Ray writes into its storage (issue 21, point 12).

Ray Tune pickles a trainable's parameters (``tune.with_parameters``: the trial's ``StageContext``) into
``tuner.pkl`` in the run's storage, which is shared and may be read by others. So the context holds
the redacted URI (``postgresql://user:***@host/db``, ``hartune.tracking.redact``) and the driver puts
the real one into the cluster's key-value store (Ray's GCS: in memory, per cluster, never in the
storage folder), from where each trial takes it back when it connects. The same holds for the driver's
objects that Tune pickles with the run (the group opener of a searcher, the trial-status callback):
``hartune.tracking.runs.client`` unseals whatever URI it is given. A search stage's Optuna storage URL
is sealed the same way: Tune saves the searcher (``searcher-state-*.pkl``), and
``hartune.tune.search.RetryingRDBStorage`` pickles the sealed URL and unseals it when restored.

Alternatives, not taken: environment variables (a local Ray's workers inherit the driver's at
``ray.init``, a cluster's need the job's runtime env, and both are fixed when Ray starts, which is
before the spec is read); an object in the object store (its reference would be pickled with the
context and dangle after a resume).
"""

from __future__ import annotations

from hartune.registry import ConfigError
from hartune.tracking.store import redact

NAMESPACE = "hartune"


def _key(sealed: str) -> bytes:
    return f"tracking-uri:{sealed}".encode()


def seal(uri: str) -> str:
    """``uri`` without its password; on the driver (Ray started) the real one goes into the cluster's
    key-value store under the sealed form."""
    sealed = redact(uri)
    if sealed != uri:
        from ray.experimental import internal_kv

        internal_kv._internal_kv_put(_key(sealed), uri.encode(), overwrite=True, namespace=NAMESPACE)
    return sealed


def unseal(uri: str) -> str:
    """The real URI of a sealed one (in a trial or on the driver); a URI without a hidden password as
    it is."""
    if ":***@" not in uri:
        return uri
    from ray.experimental import internal_kv

    value = internal_kv._internal_kv_get(_key(uri), namespace=NAMESPACE)
    if value is None:
        raise ConfigError(f"tracking uri {uri}: its password is not in this Ray cluster's key-value store "
                          "(hartune.tracking.secrets.seal runs on the driver before the trials start)")
    return value.decode()
