"""Export: the decoder as an ONNX graph z (B, D) -> mean image (B, C, H, W), for onnxruntime and the browser.

The graph computes exactly `VAE.decode_image` (sigmoid of the decoder's logits), so an image decoded by
onnxruntime (Python or the browser's WebAssembly build) equals the one torch decodes to float32 rounding.
A conditional model's graph decodes one class, fixed in the graph (its one-hot a constant), so the browser's
graph has the same single input z for every model.
"""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import torch
from torch import nn

from .checkpoint import write_atomically
from .models import VAE

DECODER_INPUT = "z"  # (B, D) float32
DECODER_OUTPUT = "x_mean"  # (B, C, H, W) float32 in [0, 1]
OPSET = 17  # Gemm, Conv, Resize(nearest), Relu, Sigmoid: all in onnxruntime-web's WebAssembly kernels


class MeanImageDecoder(nn.Module):
    """The function the browser evaluates: z -> sigmoid(decoder(z)), or sigmoid(decoder([z, one_hot])) for a
    conditional model's fixed class."""

    def __init__(self, decoder: nn.Module, one_hot: torch.Tensor | None = None):
        super().__init__()
        self.decoder = decoder
        self.one_hot = one_hot  # (1, K) or None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.one_hot is not None:
            z = torch.cat([z, self.one_hot.expand(z.shape[0], -1)], dim=1)
        return torch.sigmoid(self.decoder(z))


def decoder_onnx_bytes(model: VAE, label: int = 0) -> bytes:
    """The model's decoder as a self-contained ONNX file (weights inside), with a dynamic batch axis; a conditional
    model's decodes class `label` (an unconditional model has no class and ignores it)."""
    one_hot = None
    if model.config.conditional:
        if not 0 <= label < model.config.n_classes:
            raise ValueError(f"class {label} is not one of the model's 0..{model.config.n_classes - 1}")
        one_hot = nn.functional.one_hot(torch.tensor([label]), model.config.n_classes).float()
    decoder = MeanImageDecoder(copy.deepcopy(model.decoder).cpu().eval(), one_hot)  # the caller's model untouched
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # TorchScript-based exporter: 0.1 s and no extra dependency, where torch.export's takes 1-5 s and needs
        # onnxscript. torch 2.14 warns that it is deprecated; tests/test_export.py fails loudly if it goes.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(
            decoder, (torch.zeros(1, model.config.latent_dim),), buffer, dynamo=False, opset_version=OPSET,
            input_names=[DECODER_INPUT], output_names=[DECODER_OUTPUT],
            dynamic_axes={DECODER_INPUT: {0: "batch"}, DECODER_OUTPUT: {0: "batch"}},
        )
    return buffer.getvalue()


def export_decoder_onnx(model: VAE, path: str | Path, overwrite: bool = False) -> Path:
    """Write `decoder_onnx_bytes(model)` to path (atomically); refuses an existing file unless overwrite."""
    return write_atomically(path, decoder_onnx_bytes(model), overwrite=overwrite)
