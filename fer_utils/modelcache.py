"""Sub-models and compiled graphs built once per Keras model (saliency's score model and gradient functions,
features' layer models and ascent graphs), dropped when the model is garbage-collected."""

import weakref

_CACHE = weakref.WeakKeyDictionary()  # model -> {key: sub-model or tf.function}, built once per model


def cached(model, key, build):
    """The per-model cache of sub-models and compiled graphs (``saliency`` and ``features`` use it).

    Args:
        model: the Keras model the entry belongs to; its entries go when it is garbage-collected,
            so ``build`` must not return anything that holds the model itself.
        key: a hashable name of the entry, e.g. "scores" or ("grad_cam", layer name).
    Returns:
        ``build()``, called on the first request for (model, key) only.
    """
    entries = _CACHE.setdefault(model, {})
    if key not in entries:
        entries[key] = build()
    return entries[key]
