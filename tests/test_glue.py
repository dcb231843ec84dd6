"""Tests for fer_utils.glue: what a notebook records for the report."""

import numpy as np

from fer_utils import glue


def test_glue_records_json_safe_values_for_the_report(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    shown = []
    monkeypatch.setattr(InteractiveShell.instance().display_pub, "publish",
                        lambda data, metadata=None, **kwargs: shown.append(data))
    glue.record("cnn", {"accuracy": np.float32(0.5), "counts": np.arange(2), "pair": ("a", "b")})
    assert shown == [{glue.GLUE_MIME: {"cnn": {"accuracy": 0.5, "counts": [0, 1], "pair": ["a", "b"]}},
                      "text/plain": "glued for the report: cnn"}]


def test_outside_a_kernel_nothing_is_recorded():
    assert glue.in_kernel() is False
