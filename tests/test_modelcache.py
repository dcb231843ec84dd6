"""Tests for fer_utils.modelcache: built once per model and key, gone with the model."""

from fer_utils import modelcache


def test_cached_builds_once_per_model_and_key_and_forgets_a_dead_model():
    import gc
    import weakref

    class Owner:  # stands in for a model: any object a weak reference can point to
        pass

    owner, other, builds = Owner(), Owner(), []

    def build():
        builds.append(len(builds))
        return f"entry {len(builds)}"

    assert modelcache.cached(owner, "scores", build) == "entry 1"
    assert modelcache.cached(owner, "scores", build) == "entry 1"  # not built again
    assert modelcache.cached(owner, ("layer", "scores"), build) == "entry 2"  # another key
    assert modelcache.cached(other, "scores", build) == "entry 3"  # another model
    reference = weakref.ref(owner)
    del owner
    gc.collect()
    assert reference() is None and len(builds) == 3
