"""Export: the model's two halves as ONNX graphs, for onnxruntime and the browser.

The decoder z (B, D) -> mean image (B, C, H, W) computes exactly `VAE.decode_image` (sigmoid of the decoder's
logits; the logits are a second output, for a likelihood computed as `vae_core.loss` does), so an image decoded by
onnxruntime (Python or the browser's WebAssembly build) equals the one torch decodes to float32 rounding.
The encoder x (B, C, H, W) in [0, 1] -> mu, logvar (B, D) computes exactly `VAE.encode`, the posterior q(z|x).
A conditional model's graphs have one more input, the class of each row (int64 (B,)); a graph makes the one-hot
itself, so one graph serves every class and a caller passes plain labels.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from .files import write_atomically
from .models import VAE

# The graphs' input names are the modules' forward parameter names (torch.export's dynamic shapes name them).
DECODER_INPUT = "z"  # (B, D) float32
DECODER_CLASS_INPUT = "y"  # (B,) int64 class labels; only a conditional model's graph has it
DECODER_OUTPUT = "x_mean"  # (B, C, H, W) float32 in [0, 1]
DECODER_LOGITS_OUTPUT = "x_logits"  # (B, C, H, W) float32: what the reconstruction likelihood is computed from
ENCODER_INPUT = "x"  # (B, C, H, W) float32 in [0, 1]
ENCODER_CLASS_INPUT = "y"  # (B,) int64; only a conditional model's graph has it
ENCODER_OUTPUTS = ("mu", "logvar")  # (B, D) float32 each: q(z|x) = N(mu, diag(exp(logvar)))
PARTS = ("decoder", "encoder")
OPSET = 18  # Gemm, Conv, Resize(nearest), Relu, Sigmoid: all in onnxruntime-web's WebAssembly kernels


def one_hot(y: torch.Tensor, classes: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B,) labels -> (B, K) one-hot, as a comparison (Equal, Cast): the batch size stays dynamic in the graph."""
    return (y[:, None] == classes).to(dtype)


class MeanImageDecoder(nn.Module):
    """The function the browser evaluates: z -> (sigmoid(decoder(z)), decoder(z)), or (z, y) -> the same of
    decoder([z, one_hot(y)]) for a conditional model on n_classes classes (VAE.decode_image, VAE.decode)."""

    def __init__(self, decoder: nn.Module, n_classes: int = 0):
        super().__init__()
        self.decoder = decoder
        self.register_buffer("classes", torch.arange(n_classes), persistent=False)  # (K,)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if y is not None:
            z = torch.cat([z, one_hot(y, self.classes, z.dtype)], dim=1)
        logits = self.decoder(z)
        return torch.sigmoid(logits), logits


class PosteriorEncoder(nn.Module):
    """x -> (mu, logvar) of q(z|x), or (x, y) -> those of q(z|x, y) for a conditional model (VAE.encode)."""

    def __init__(self, model: VAE):
        super().__init__()
        self.encoder, self.mu_head, self.logvar_head = model.encoder, model.mu_head, model.logvar_head
        self.register_buffer("classes", torch.arange(model.config.n_classes), persistent=False)  # (K,)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        if y is not None:
            h = torch.cat([h, one_hot(y, self.classes, h.dtype)], dim=1)
        return self.mu_head(h), self.logvar_head(h)


def graph_names(part: str, conditional: bool) -> dict:
    """The names of `part`'s graph as the browser's model client reads them: {"input", "class_input" (None for an
    unconditional model), "output" (the one a caller shows), "outputs" (all, in order)}."""
    if part == "encoder":
        return {"input": ENCODER_INPUT, "class_input": ENCODER_CLASS_INPUT if conditional else None,
                "output": ENCODER_OUTPUTS[0], "outputs": list(ENCODER_OUTPUTS)}
    return {"input": DECODER_INPUT, "class_input": DECODER_CLASS_INPUT if conditional else None,
            "output": DECODER_OUTPUT, "outputs": [DECODER_OUTPUT, DECODER_LOGITS_OUTPUT]}


def decoder_onnx_bytes(model: VAE) -> bytes:
    """The model's decoder as a self-contained ONNX file (weights inside), with a dynamic batch axis: inputs
    DECODER_INPUT, and DECODER_CLASS_INPUT for a conditional model; outputs DECODER_OUTPUT, DECODER_LOGITS_OUTPUT."""
    decoder = MeanImageDecoder(copy.deepcopy(model.decoder).cpu(), model.config.n_classes).eval()  # model untouched
    inputs = {DECODER_INPUT: torch.zeros(2, model.config.latent_dim)}  # batch 2: torch.export specialises on 1
    if model.config.conditional:
        inputs[DECODER_CLASS_INPUT] = torch.zeros(2, dtype=torch.int64)
    return _onnx_bytes(decoder, inputs, [DECODER_OUTPUT, DECODER_LOGITS_OUTPUT])


def encoder_onnx_bytes(model: VAE) -> bytes:
    """The model's encoder as a self-contained ONNX file with a dynamic batch axis: inputs ENCODER_INPUT, and
    ENCODER_CLASS_INPUT for a conditional model; outputs ENCODER_OUTPUTS."""
    encoder = PosteriorEncoder(copy.deepcopy(model).cpu()).eval()
    inputs = {ENCODER_INPUT: torch.zeros(2, *model.config.image_shape)}
    if model.config.conditional:
        inputs[ENCODER_CLASS_INPUT] = torch.zeros(2, dtype=torch.int64)
    return _onnx_bytes(encoder, inputs, list(ENCODER_OUTPUTS))


def onnx_bytes(model: VAE, part: str) -> bytes:
    """`part` ("decoder" or "encoder", PARTS) of the model as an ONNX file."""
    return {"decoder": decoder_onnx_bytes, "encoder": encoder_onnx_bytes}[part](model)


def export_onnx(model: VAE, path: str | Path, part: str = "decoder", overwrite: bool = False) -> Path:
    """Write `onnx_bytes(model, part)` to path (atomically); refuses an existing file unless overwrite."""
    return write_atomically(path, onnx_bytes(model, part), overwrite=overwrite)


def _onnx_bytes(module: nn.Module, inputs: dict[str, torch.Tensor], outputs: list[str]) -> bytes:
    """`module` exported with the torch.export-based exporter, every input's first axis one dynamic batch axis."""
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        # the inputs share the one batch axis, which torch names "batch" as asked while warning that it will not
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used.*")
        program = torch.onnx.export(  # torch.export-based (dynamo): the TorchScript exporter is deprecated
            module, tuple(inputs.values()), dynamo=True, opset_version=OPSET, verbose=False,
            input_names=list(inputs), output_names=outputs,
            dynamic_shapes={name: {0: batch} for name in inputs},
        )
    graph = program.model_proto
    for node in graph.graph.node:  # torch's provenance: stack traces with this machine's source paths
        del node.metadata_props[:]
    return graph.SerializeToString()
