"""The in-page model runtime, Python side (ui/components/runtime.py): a checkpoint's decoder is a static file that
the browser fetches by URL, exported once per checkpoint and exporter, even across server restarts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ui.components import runtime, static_files
from vae_core.checkpoint import load_checkpoint
from vae_core.export import DECODER_INPUT, DECODER_OUTPUT, ENCODER_INPUT, ENCODER_OUTPUTS

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements-dev.txt")


def test_a_checkpoints_decoder_is_exported_once_to_a_file_the_browser_fetches_by_url(
        tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(static_files, "CACHE_DIR", tmp_path / "cache")
    exports = []
    monkeypatch.setattr(runtime, "onnx_bytes", lambda model, part: exports.append(part) or
                        runtime.export.onnx_bytes(model, part))
    checkpoint = load_checkpoint(tiny_checkpoint)

    spec = runtime.decoder(checkpoint)
    runtime._graph_url.clear()  # as a restarted server
    again = runtime.decoder(checkpoint)

    assert exports == ["decoder"] and again == spec
    assert spec["url"].startswith("/app/static/cache/decoder-") and spec["runtime"].startswith("/app/static/onnx")
    assert (spec["input"], spec["class_input"], spec["output"]) == (DECODER_INPUT, None, DECODER_OUTPUT)
    graph = (tmp_path / "cache" / spec["url"].split("/")[-1]).read_bytes()
    z = np.random.default_rng(0).normal(size=(3, checkpoint.config.latent_dim)).astype(np.float32)
    decoded = ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, {DECODER_INPUT: z})[0]
    assert np.abs(decoded - checkpoint.model.decode_image(torch.from_numpy(z)).numpy()).max() <= 1e-5


def test_a_checkpoints_encoder_is_a_second_file_that_gives_torchs_posterior(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(static_files, "CACHE_DIR", tmp_path / "cache")
    checkpoint = load_checkpoint(tiny_checkpoint)

    spec = runtime.encoder(checkpoint)

    assert spec["url"].startswith("/app/static/cache/encoder-") and spec["url"] != runtime.decoder(checkpoint)["url"]
    assert (spec["input"], spec["class_input"], spec["outputs"]) == (ENCODER_INPUT, None, list(ENCODER_OUTPUTS))
    graph = (tmp_path / "cache" / spec["url"].split("/")[-1]).read_bytes()
    x = np.random.default_rng(0).uniform(size=(3, *checkpoint.config.image_shape)).astype(np.float32)
    mu, logvar = ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(spec["outputs"],
                                                                                      {ENCODER_INPUT: x})
    posterior = checkpoint.model.encode(torch.from_numpy(x))
    assert np.abs(mu - posterior.mu.detach().numpy()).max() <= 1e-4
    assert np.abs(logvar - posterior.logvar.detach().numpy()).max() <= 1e-4
