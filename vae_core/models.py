"""VAE models: one interface, MLP or convolutional encoder/decoder bodies chosen by `VAEConfig`.

q_phi(z|x) = N(mu(x), diag(exp(logvar(x)))), p(z) = N(0, I), p_theta(x|z) Bernoulli or Gaussian with
mean sigmoid(decode(z)). Kingma & Welling (2014), "Auto-Encoding Variational Bayes".

A conditional VAE (`VAEConfig.n_classes > 0`; Sohn et al. 2015, "Learning Structured Output Representation using
Deep Conditional Generative Models") is the same model with the one-hot class y concatenated to the encoder's
features before the mu/logvar heads and to z before the decoder: q(z|x, y) and p(x|z, y). The class then comes for
free to the decoder, so z is pushed to hold what the class does not say (style).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from numbers import Integral
from typing import ClassVar

import torch
from torch import nn

from .distributions import DiagonalGaussian, StandardNormal
from .errors import ConfigError
from .limits import Range, check

ARCHITECTURES = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild a model; stored in every checkpoint.

    The class constants are the allowed values; the CLI help and the app read them from here.
    """

    ARCHITECTURES: ClassVar[tuple[str, ...]] = ARCHITECTURES
    LIKELIHOODS: ClassVar[tuple[str, ...]] = LIKELIHOODS
    LATENT_DIM: ClassVar[Range] = Range(1, 128)
    HIDDEN_SIZE: ClassVar[Range] = Range(1, 4096)  # each MLP width or conv channel count
    HIDDEN_LAYERS: ClassVar[Range] = Range(1, 6)
    IMAGE_SIDE: ClassVar[Range] = Range(4, 256)
    CHANNELS: ClassVar[tuple[int, ...]] = (1, 3)
    BETA: ClassVar[Range] = Range(0.0, 100.0)
    N_CLASSES: ClassVar[Range] = Range(2, 10_000)  # of a conditional model
    # Each body has its own sensible sizes: MLP widths shrink towards the code, conv channels grow.
    DEFAULT_HIDDEN_DIMS: ClassVar[dict[str, tuple[int, ...]]] = {"mlp": (256, 128), "conv": (32, 64)}

    image_shape: tuple[int, int, int] = (1, 8, 8)  # (C, H, W)
    latent_dim: int = 2
    architecture: str = "mlp"  # one of ARCHITECTURES
    hidden_dims: tuple[int, ...] | None = None  # MLP widths or conv channels; None: DEFAULT_HIDDEN_DIMS[architecture]
    likelihood: str = "bernoulli"  # one of LIKELIHOODS; "gaussian" has the fixed std below
    gaussian_std: float = 0.1  # std of p(x|z) when likelihood == "gaussian"
    beta: float = 1.0  # weight of the KL term; beta != 1 is a beta-VAE
    n_classes: int = 0  # > 0: a conditional VAE on this many classes (the dataset's); 0: unconditional

    def __post_init__(self):
        if self.hidden_dims is None:
            object.__setattr__(self, "hidden_dims", self.DEFAULT_HIDDEN_DIMS.get(self.architecture, ()))
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
        object.__setattr__(self, "hidden_dims", tuple(int(v) for v in self.hidden_dims))
        c, h, w = self.image_shape if len(self.image_shape) == 3 else (0, 0, 0)
        check([
            (len(self.image_shape) == 3 and c in self.CHANNELS and self.IMAGE_SIDE.contains(h)
             and self.IMAGE_SIDE.contains(w),
             f"image_shape must be (C, H, W) with C 1 or 3 and sides {self.IMAGE_SIDE}, got {self.image_shape}"),
            (isinstance(self.latent_dim, Integral) and self.LATENT_DIM.contains(self.latent_dim),
             f"latent_dim must be an integer {self.LATENT_DIM}, got {self.latent_dim!r}"),
            (self.architecture in self.ARCHITECTURES,
             f"architecture must be one of {self.ARCHITECTURES}, got {self.architecture!r}"),
            (self.HIDDEN_LAYERS.contains(len(self.hidden_dims))
             and all(self.HIDDEN_SIZE.contains(d) for d in self.hidden_dims),
             f"hidden_dims must be {self.HIDDEN_LAYERS} sizes in {self.HIDDEN_SIZE}, got {self.hidden_dims}"),
            (self.likelihood in self.LIKELIHOODS,
             f"likelihood must be one of {self.LIKELIHOODS}, got {self.likelihood!r}"),
            (self.gaussian_std > 0, f"gaussian_std must be > 0, got {self.gaussian_std}"),
            (self.BETA.contains(self.beta), f"beta must be in {self.BETA}, got {self.beta}"),
            (isinstance(self.n_classes, Integral) and (self.n_classes == 0 or self.N_CLASSES.contains(self.n_classes)),
             f"n_classes must be 0 (unconditional) or {self.N_CLASSES} (a conditional model needs at least two "
             f"classes), got {self.n_classes!r}"),
        ])

    @property
    def conditional(self) -> bool:
        return self.n_classes > 0

    @property
    def decoder_inputs(self) -> int:
        """Width of the decoder's input: z, and the one-hot class for a conditional model."""
        return self.latent_dim + self.n_classes

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown model config keys: {sorted(unknown)}")
        if data.get("hidden_dims", ()) is None:  # a stored model names its sizes; None is for new configs only
            raise ConfigError("bad model config: hidden_dims is missing")
        try:
            return cls(**data)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:  # e.g. image_shape ["a", 8, 8] from a hand-edited file
            raise ConfigError(f"bad model config: {exc}") from exc


@dataclass
class VAEOutput:
    x_logits: torch.Tensor  # (B, C, H, W) decoder output before the sigmoid
    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor  # (B, D)
    z: torch.Tensor  # (B, D) reparameterised sample

    @property
    def posterior(self) -> DiagonalGaussian:
        """q(z|x) of the batch, whose draw z is."""
        return DiagonalGaussian(self.mu, self.logvar)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers)


class MLPBodies:
    """Encoder: flatten -> hidden layers. Decoder: z -> reversed hidden layers -> C*H*W logits."""

    @staticmethod
    def build(config: VAEConfig) -> tuple[nn.Module, int, nn.Module]:
        n_pixels = math.prod(config.image_shape)
        dims = list(config.hidden_dims)
        encoder = nn.Sequential(nn.Flatten(), _mlp([n_pixels, *dims]))
        decoder = nn.Sequential(
            _mlp([config.decoder_inputs, *reversed(dims)]),
            nn.Linear(dims[0], n_pixels),
            nn.Unflatten(1, config.image_shape),
        )
        return encoder, dims[-1], decoder


class ConvBodies:
    """Stride-2 3x3 convolutions down; nearest upsampling to the exact sizes + 3x3 convolutions up.

    Upsampling to recorded sizes (28 -> 14 -> 7 and back) works for any image side, odd or even.
    """

    @staticmethod
    def build(config: VAEConfig) -> tuple[nn.Module, int, nn.Module]:
        channels, height, width = config.image_shape
        sizes = [(height, width)]
        for _ in config.hidden_dims:
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
        chans = [channels, *config.hidden_dims]
        down: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            down += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
        flat = chans[-1] * sizes[-1][0] * sizes[-1][1]
        encoder = nn.Sequential(*down, nn.Flatten())
        up: list[nn.Module] = [
            nn.Linear(config.decoder_inputs, flat), nn.ReLU(), nn.Unflatten(1, (chans[-1], *sizes[-1]))
        ]
        for i in range(len(config.hidden_dims), 0, -1):
            c_out = chans[max(i - 1, 1)]  # the last block keeps its channels; a 3x3 conv maps to C
            up += [nn.Upsample(size=sizes[i - 1], mode="nearest"), nn.Conv2d(chans[i], c_out, 3, padding=1), nn.ReLU()]
        up.append(nn.Conv2d(chans[1], channels, 3, padding=1))
        return encoder, flat, nn.Sequential(*up)


BODIES = {"mlp": MLPBodies, "conv": ConvBodies}


class VAE(nn.Module):
    """Gaussian-encoder VAE with a standard normal prior; conditional on the class when config.n_classes > 0.

    Every method takes the class labels y (B,) int64 as an optional last argument: a conditional model needs them
    (ValueError without), an unconditional one ignores them, so callers holding labels can always pass them.
    """

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.encoder, features, self.decoder = BODIES[config.architecture].build(config)
        self.mu_head = nn.Linear(features + config.n_classes, config.latent_dim)
        self.logvar_head = nn.Linear(features + config.n_classes, config.latent_dim)

    def with_class(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """h (B, F) with the one-hot class appended, (B, F + K), for a conditional model; h itself otherwise."""
        if not self.config.conditional:
            return h
        if y is None:
            raise ValueError(f"this conditional VAE needs the class labels y (0..{self.config.n_classes - 1}) "
                             "to encode or decode")
        one_hot = nn.functional.one_hot(y.to(h.device).long(), self.config.n_classes).to(h.dtype)
        return torch.cat([h, one_hot.expand(len(h), -1)], dim=1)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiagonalGaussian:
        """x (B, C, H, W) in [0, 1] (and y (B,) if conditional) -> the posterior q(z|x), mu and logvar (B, D)."""
        h = self.with_class(self.encoder(x), y)
        return DiagonalGaussian(self.mu_head(h), self.logvar_head(h))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, D) (and y (B,) if conditional) -> x_logits (B, C, H, W); the image mean is sigmoid(x_logits)."""
        return self.decoder(self.with_class(z, y))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> VAEOutput:
        posterior = self.encode(x, y)
        z = posterior.sample()
        return VAEOutput(self.decode(z, y), posterior.mu, posterior.logvar, z)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def decode_image(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, D) -> mean image (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode(z.to(self.device), y))

    @torch.no_grad()
    def decode_every_class(self, z: torch.Tensor) -> torch.Tensor:
        """One code z (D,) decoded as each class of a conditional model: (K, C, H, W), the same style per class."""
        k = self.config.n_classes
        return self.decode_image(z.reshape(1, -1).expand(k, -1), torch.arange(k))

    def cycled_labels(self, n: int) -> torch.Tensor | None:
        """Labels 0, 1, ..., K-1, 0, ... for n codes of a conditional model (None for an unconditional one)."""
        return torch.arange(n) % self.config.n_classes if self.config.conditional else None

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """n images decoded from z ~ N(0, I): (n, C, H, W) in [0, 1]. A conditional model decodes sample i as
        class y[i], by default the classes in turn (`cycled_labels`)."""
        z = StandardNormal(self.config.latent_dim).sample(n, generator)
        return self.decode_image(z, self.cycled_labels(n) if y is None else y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the posterior mean of each x: (B, C, H, W) in [0, 1]."""
        return self.decode_image(self.encode(x.to(self.device), y).mode(), y)
