"""Export: the decoder as an ONNX graph z (B, D) -> mean image (B, C, H, W), for onnxruntime and the browser.

The graph computes exactly `VAE.decode_image` (sigmoid of the decoder's logits), so an image decoded by
onnxruntime (Python or the browser's WebAssembly build) equals the one torch decodes to float32 rounding.
A conditional model's graph has a second input, the class of each code (int64 (B,)); the graph makes the one-hot
itself, so one graph decodes every class and a caller passes plain labels.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from .files import write_atomically
from .models import VAE

# The graph's input names are MeanImageDecoder.forward's parameter names (torch.export's dynamic shapes name them).
DECODER_INPUT = "z"  # (B, D) float32
DECODER_CLASS_INPUT = "y"  # (B,) int64 class labels; only a conditional model's graph has it
DECODER_OUTPUT = "x_mean"  # (B, C, H, W) float32 in [0, 1]
OPSET = 18  # Gemm, Conv, Resize(nearest), Relu, Sigmoid: all in onnxruntime-web's WebAssembly kernels


class MeanImageDecoder(nn.Module):
    """The function the browser evaluates: z -> sigmoid(decoder(z)), or (z, y) -> sigmoid(decoder([z, one_hot(y)]))
    for a conditional model on n_classes classes (VAE.decode_image)."""

    def __init__(self, decoder: nn.Module, n_classes: int = 0):
        super().__init__()
        self.decoder = decoder
        self.register_buffer("classes", torch.arange(n_classes), persistent=False)  # (K,)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is not None:  # one-hot as a comparison (Equal, Cast): the batch size stays dynamic in the graph
            z = torch.cat([z, (y[:, None] == self.classes).to(z.dtype)], dim=1)
        return torch.sigmoid(self.decoder(z))


def decoder_onnx_bytes(model: VAE) -> bytes:
    """The model's decoder as a self-contained ONNX file (weights inside), with a dynamic batch axis: inputs
    DECODER_INPUT, and DECODER_CLASS_INPUT for a conditional model; output DECODER_OUTPUT."""
    decoder = MeanImageDecoder(copy.deepcopy(model.decoder).cpu(), model.config.n_classes).eval()  # model untouched
    inputs = {DECODER_INPUT: torch.zeros(2, model.config.latent_dim)}  # batch 2: torch.export specialises on 1
    if model.config.conditional:
        inputs[DECODER_CLASS_INPUT] = torch.zeros(2, dtype=torch.int64)
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        # z and y share the one batch axis, which torch names "batch" as asked while warning that it will not
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used.*")
        program = torch.onnx.export(  # torch.export-based (dynamo): the TorchScript exporter is deprecated
            decoder, tuple(inputs.values()), dynamo=True, opset_version=OPSET, verbose=False,
            input_names=list(inputs), output_names=[DECODER_OUTPUT],
            dynamic_shapes={name: {0: batch} for name in inputs},
        )
    graph = program.model_proto
    for node in graph.graph.node:  # torch's provenance: stack traces with this machine's source paths
        del node.metadata_props[:]
    return graph.SerializeToString()


def export_decoder_onnx(model: VAE, path: str | Path, overwrite: bool = False) -> Path:
    """Write `decoder_onnx_bytes(model)` to path (atomically); refuses an existing file unless overwrite."""
    return write_atomically(path, decoder_onnx_bytes(model), overwrite=overwrite)
