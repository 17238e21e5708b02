"""The decoder exported to ONNX decodes, in onnxruntime, what torch decodes, and the encoder encodes what torch
encodes: MLP and conv, any batch size, and a conditional model's graphs every class (their class input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vae_core import cli
from vae_core.checkpoint import load_checkpoint, save_checkpoint
from vae_core.export import (
    DECODER_CLASS_INPUT,
    DECODER_INPUT,
    DECODER_LOGITS_OUTPUT,
    DECODER_OUTPUT,
    ENCODER_CLASS_INPUT,
    ENCODER_INPUT,
    ENCODER_OUTPUTS,
    decoder_onnx_bytes,
    encoder_onnx_bytes,
)
from vae_core.models import VAE, VAEConfig

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements-dev.txt")

SHIPPED_8D = Path(__file__).resolve().parent.parent / "checkpoints" / "digits-8d.safetensors"
PIXEL_TOLERANCE = 1e-5  # float32 rounding; the browser test allows 1e-3
POSTERIOR_TOLERANCE = 1e-4  # mu and logvar: float32 sums over 784 pixels


def conv_model(n_classes: int = 0) -> VAE:
    """A small MNIST-shaped conv VAE: odd sizes (28 -> 14 -> 7 -> 4) exercise the exact-size upsampling."""
    torch.manual_seed(0)
    return VAE(VAEConfig(image_shape=(1, 28, 28), latent_dim=5, architecture="conv", hidden_dims=(8, 16, 16),
                         n_classes=n_classes))


def conditional_mlp() -> VAE:
    """A digits-shaped conditional MLP; its weights scaled up, so that the class moves the (untrained) image."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden_dims=(32, 16), n_classes=10))
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(3.0)
    return model


def onnx_decode(onnx: bytes, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    feeds = {DECODER_INPUT: z.astype(np.float32)}
    if y is not None:
        feeds[DECODER_CLASS_INPUT] = y.astype(np.int64)
    return session.run([DECODER_OUTPUT], feeds)[0]


def random_codes(n: int, latent_dim: int) -> np.ndarray:
    return np.random.default_rng(0).normal(scale=2.0, size=(n, latent_dim)).astype(np.float32)


@pytest.mark.parametrize("model", [
    pytest.param(lambda: load_checkpoint(SHIPPED_8D).model, id="shipped-mlp-8d"),
    pytest.param(conv_model, id="conv-28x28"),
])
def test_onnx_decoder_equals_torch_decode_image(model):
    model = model()
    z = random_codes(7, model.config.latent_dim)  # a batch of 7: the batch axis is dynamic
    expected = model.decode_image(torch.from_numpy(z)).numpy()

    decoded = onnx_decode(decoder_onnx_bytes(model), z)

    assert decoded.shape == (7, *model.config.image_shape)
    assert np.abs(decoded - expected).max() <= PIXEL_TOLERANCE
    assert 0.0 <= decoded.min() and decoded.max() <= 1.0


@pytest.mark.parametrize("model", [
    pytest.param(conditional_mlp, id="conditional-mlp-8x8"),
    pytest.param(lambda: conv_model(n_classes=10), id="conditional-conv-28x28"),
])
def test_a_conditional_models_graph_takes_the_class_and_decodes_every_class_like_torch(model):
    model = model()
    z = random_codes(13, model.config.latent_dim)
    y = np.arange(13) % 10  # every class, in one batch of mixed classes

    onnx = decoder_onnx_bytes(model)
    decoded = onnx_decode(onnx, z, y)

    names = [i.name for i in ort.InferenceSession(onnx, providers=["CPUExecutionProvider"]).get_inputs()]
    assert names == [DECODER_INPUT, DECODER_CLASS_INPUT]
    expected = model.decode_image(torch.from_numpy(z), torch.from_numpy(y)).numpy()
    assert decoded.shape == (13, *model.config.image_shape)
    assert np.abs(decoded - expected).max() <= PIXEL_TOLERANCE
    for label in range(10):  # one class for the whole batch, each class in turn
        alone = onnx_decode(onnx, z[:2], np.full(2, label))
        assert np.abs(alone - model.decode_image(torch.from_numpy(z[:2]), torch.full((2,), label)).numpy()).max() \
            <= PIXEL_TOLERANCE
    other = onnx_decode(onnx, z, (y + 1) % 10)
    assert np.abs(other - decoded).max() > 100 * PIXEL_TOLERANCE  # the class input is not ignored


def test_an_unconditional_models_graph_has_the_code_as_its_only_input(tiny_config):
    session = ort.InferenceSession(decoder_onnx_bytes(VAE(tiny_config)), providers=["CPUExecutionProvider"])

    assert [i.name for i in session.get_inputs()] == [DECODER_INPUT]


def test_the_graph_declares_one_dynamic_batch_axis_and_the_types_the_browser_feeds():
    session = ort.InferenceSession(decoder_onnx_bytes(conditional_mlp()), providers=["CPUExecutionProvider"])

    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {DECODER_INPUT: ("tensor(float)", ["batch", 3]), DECODER_CLASS_INPUT: ("tensor(int64)", ["batch"])}
    outputs = [(output.name, output.type, output.shape) for output in session.get_outputs()]
    assert outputs == [(name, "tensor(float)", ["batch", 1, 8, 8]) for name in (DECODER_OUTPUT, DECODER_LOGITS_OUTPUT)]


def test_the_decoders_logits_output_is_torchs_decode():
    """The browser computes the reconstruction likelihood from the logits, as vae_core.loss does."""
    model = conv_model()
    z = random_codes(4, model.config.latent_dim)
    session = ort.InferenceSession(decoder_onnx_bytes(model), providers=["CPUExecutionProvider"])

    [logits] = session.run([DECODER_LOGITS_OUTPUT], {DECODER_INPUT: z})

    with torch.no_grad():
        assert np.abs(logits - model.decode(torch.from_numpy(z)).numpy()).max() <= POSTERIOR_TOLERANCE


# --- the encoder: x in [0, 1] (and the class) -> mu, logvar ---

def onnx_encode(onnx: bytes, x: np.ndarray, y: np.ndarray | None = None) -> list[np.ndarray]:
    session = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    feeds = {ENCODER_INPUT: x.astype(np.float32)}
    if y is not None:
        feeds[ENCODER_CLASS_INPUT] = y.astype(np.int64)
    return session.run(list(ENCODER_OUTPUTS), feeds)


def random_images(n: int, shape) -> np.ndarray:
    return np.random.default_rng(1).uniform(size=(n, *shape)).astype(np.float32)


def assert_posterior_equals_torch(onnx: bytes, model: VAE, x: np.ndarray, y: np.ndarray | None = None) -> None:
    mu, logvar = onnx_encode(onnx, x, y)
    expected = model.encode(torch.from_numpy(x), None if y is None else torch.from_numpy(y))
    assert mu.shape == logvar.shape == (len(x), model.config.latent_dim)
    assert np.abs(mu - expected.mu.detach().numpy()).max() <= POSTERIOR_TOLERANCE
    assert np.abs(logvar - expected.logvar.detach().numpy()).max() <= POSTERIOR_TOLERANCE


@pytest.mark.parametrize("model", [
    pytest.param(lambda: load_checkpoint(SHIPPED_8D).model, id="shipped-mlp-8d"),
    pytest.param(conv_model, id="conv-28x28"),
])
def test_onnx_encoder_gives_torchs_posterior(model):
    model = model()

    assert_posterior_equals_torch(encoder_onnx_bytes(model), model, random_images(7, model.config.image_shape))


@pytest.mark.parametrize("model", [
    pytest.param(conditional_mlp, id="conditional-mlp-8x8"),
    pytest.param(lambda: conv_model(n_classes=10), id="conditional-conv-28x28"),
])
def test_a_conditional_models_encoder_takes_the_class_like_torch(model):
    model = model()
    x, y = random_images(13, model.config.image_shape), np.arange(13) % 10

    onnx = encoder_onnx_bytes(model)

    assert_posterior_equals_torch(onnx, model, x, y)
    names = [i.name for i in ort.InferenceSession(onnx, providers=["CPUExecutionProvider"]).get_inputs()]
    assert names == [ENCODER_INPUT, ENCODER_CLASS_INPUT]
    mu, _ = onnx_encode(onnx, x, y)
    other, _ = onnx_encode(onnx, x, (y + 1) % 10)
    assert np.abs(other - mu).max() > 100 * POSTERIOR_TOLERANCE  # the class input is not ignored


def test_the_encoder_graph_declares_one_dynamic_batch_axis(tiny_config):
    session = ort.InferenceSession(encoder_onnx_bytes(VAE(tiny_config)), providers=["CPUExecutionProvider"])

    assert [(i.name, i.shape) for i in session.get_inputs()] == [(ENCODER_INPUT, ["batch", *tiny_config.image_shape])]
    assert [(o.name, o.shape) for o in session.get_outputs()] == \
        [(name, ["batch", tiny_config.latent_dim]) for name in ENCODER_OUTPUTS]


def test_cli_export_of_the_encoder_part_writes_the_posterior_graph(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "encoder.onnx"

    assert cli.main(["export", str(tiny_checkpoint), "--format", "onnx", "--part", "encoder", "--out", str(out)]) == 0

    model = load_checkpoint(tiny_checkpoint).model
    x = random_images(3, model.config.image_shape)
    mu, logvar = onnx_encode(out.read_bytes(), x)
    expected = model.encode(torch.from_numpy(x))
    assert np.abs(mu - expected.mu.detach().numpy()).max() <= POSTERIOR_TOLERANCE
    assert np.abs(logvar - expected.logvar.detach().numpy()).max() <= POSTERIOR_TOLERANCE
    assert f"'{ENCODER_OUTPUTS[0]}' (batch, {model.config.latent_dim})" in capsys.readouterr().out


def test_the_same_model_exports_the_same_bytes_which_name_no_source_path(tiny_config):
    """The browser's file is named by what it is made from: every export must give it the same content."""
    model = VAE(tiny_config)

    first = decoder_onnx_bytes(model)

    assert decoder_onnx_bytes(model) == first
    assert str(Path(__file__).resolve().parent.parent).encode() not in first  # no stack traces of this checkout


def test_exporting_leaves_the_model_as_it_was(tiny_config):
    model = VAE(tiny_config).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    decoder_onnx_bytes(model)
    encoder_onnx_bytes(model)

    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_cli_export_writes_an_onnx_file_that_decodes_like_the_checkpoint(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "decoder.onnx"

    assert cli.main(["export", str(tiny_checkpoint), "--format", "onnx", "--out", str(out)]) == 0

    model = load_checkpoint(tiny_checkpoint).model
    z = random_codes(3, model.config.latent_dim)
    assert np.abs(onnx_decode(out.read_bytes(), z) - model.decode_image(torch.from_numpy(z)).numpy()).max() \
        <= PIXEL_TOLERANCE
    assert f"wrote {out}" in capsys.readouterr().out


def test_cli_export_of_a_conditional_checkpoint_writes_the_graph_with_the_class_input(tmp_path, digits_info,
                                                                                      capsys):
    checkpoint = save_checkpoint(tmp_path / "cvae.safetensors", conditional_mlp(), digits_info,
                                 {"train": [], "test": []}, 0, "test")
    out = tmp_path / "decoder.onnx"

    assert cli.main(["export", str(checkpoint), "--format", "onnx", "--out", str(out)]) == 0

    model = load_checkpoint(checkpoint).model
    z, y = random_codes(10, model.config.latent_dim), np.arange(10)
    expected = model.decode_image(torch.from_numpy(z), torch.from_numpy(y)).numpy()
    assert np.abs(onnx_decode(out.read_bytes(), z, y) - expected).max() <= PIXEL_TOLERANCE
    assert f"and '{DECODER_CLASS_INPUT}' (batch,) int64 class 0-9" in capsys.readouterr().out


def test_cli_export_refuses_to_replace_a_file_without_overwrite(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "decoder.onnx"
    out.write_bytes(b"keep me")

    assert cli.main(["export", str(tiny_checkpoint), "--out", str(out)]) == 2

    assert out.read_bytes() == b"keep me"
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["export", str(tiny_checkpoint), "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"keep me"
