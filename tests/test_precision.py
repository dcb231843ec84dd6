"""Tests for fer_utils.precision: bfloat16 chosen from the CPU's flags, forced either way, float32 outputs."""

import json

import numpy as np
import pytest

from fer_utils import config, errors, identity, precision

X86_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n"
X86_PLAIN = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


@pytest.mark.parametrize("cpuinfo, native", [(X86_BF16, True), (X86_PLAIN, False), (ARM_BF16, True), ("", False)])
def test_native_bfloat16_is_read_from_the_flags(cpuinfo, native):
    assert precision.native_bfloat16(cpuinfo) is native
    assert precision.resolve("auto", cpuinfo) == ("bfloat16" if native else "float32")


def test_a_forced_precision_wins_over_the_flags():
    assert precision.resolve("float32", X86_BF16) == "float32"
    assert precision.resolve("bfloat16", X86_PLAIN) == "bfloat16"


def test_the_policy_keeps_float16_for_gpus():
    assert precision.policy("bfloat16") == "mixed_bfloat16" and precision.policy("float32") == "float32"
    assert precision.policy("bfloat16", gpu=True) == "mixed_float16"
    assert precision.policy("float32", gpu=True, mixed_float16=False) == "float32"


def test_an_unknown_precision_is_refused():
    with pytest.raises(errors.InputError, match="precision='fp8': choose one of float32, bfloat16, auto"):
        config.resolve("quick", precision="fp8")


@pytest.mark.slow
def test_the_run_key_names_the_precision_auto_chose(tmp_path, monkeypatch):
    """Issue 24: an "auto" run trained in bfloat16 is not reused on a CPU where auto means float32."""
    from fer_utils import synth, data

    faces = data.load(synth.write_csv(tmp_path / "f.csv", n=70, seed=1, progress=False), progress=False)
    settings = config.resolve("quick", precision="auto")
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)
    cpuinfo.write_text(X86_BF16)
    native = identity.run_identity(settings, faces)
    cpuinfo.write_text(X86_PLAIN)
    plain = identity.run_identity(settings, faces)
    assert native["precision"] == "bfloat16" and plain["precision"] == "float32"
    assert identity.run_key(settings, native) != identity.run_key(settings, plain)


@pytest.mark.slow
def test_a_model_trains_under_mixed_bfloat16_with_float32_outputs():
    import keras

    from fer_utils import models

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(0)
        model = models.build("vgg_small")
        model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=keras.losses.CategoricalCrossentropy())
        assert model.get_layer("conv1_1").compute_dtype == "bfloat16"
        assert model.get_layer("conv1_1").variable_dtype == "float32"
        for layer in ("logits", "probabilities"):
            assert model.get_layer(layer).compute_dtype == "float32", layer
        x = np.random.default_rng(0).integers(0, 256, (16, 48, 48, 1)).astype(np.float32)
        y = keras.utils.to_categorical(np.arange(16) % 7, 7)
        losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
        probabilities = model.predict(x, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(np.isfinite(losses)) and losses[-1] != losses[0]
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("written_out", [False, True], ids=["preset", "notebook-model"])
def test_a_run_trained_in_bfloat16_is_evaluated_and_saved_in_float32(tmp_path, narrow_vgg_small, written_out):
    """Issue 24: bfloat16 makes training faster and nothing else; the run's model, its metrics and the analyses
    that load it compute in float32, while metrics.json and the run's identity still say how it trained. A
    network a notebook wrote out (built in float32, passed to ``train``) trains in bfloat16 too, not as built."""
    import keras

    from fer_utils import data, models, runs, synth, train

    faces = data.load(synth.write_csv(tmp_path / "f.csv", n=140, seed=2, progress=False), progress=False)
    seen = {}

    class _Dtypes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.update({name: self.model.get_layer(name).compute_dtype for name in ("conv1_1", "logits")})

    settings = config.resolve("quick", precision="bfloat16", max_train_rows=0, epochs=1, batch_size=32,
                              time_budget=0.0)
    try:
        model = models.build("vgg_small") if written_out else None  # as Q1's cell builds it: float32
        run = train.train(settings, dataset=faces, runs_dir=tmp_path / "runs", progress=False, model=model,
                          extra_callbacks=[_Dtypes()])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert seen == {"conv1_1": "bfloat16", "logits": "float32"}  # it trained in bfloat16
    assert run.metrics["precision"] == "mixed_bfloat16"
    assert json.loads((run.directory / runs.IDENTITY_FILE).read_text())["precision"] == "bfloat16"
    model = run.load_model()
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert model.name == "vgg_small" and 0.0 <= run.metrics["splits"]["val"]["accuracy"] <= 1.0
