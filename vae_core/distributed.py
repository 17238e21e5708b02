"""Multi-process training with PyTorch's own engine: `torchrun --nproc_per_node=N -m vae_core train ...`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; we join a process group (gloo on CPU, nccl on CUDA), each
rank trains on its shard of the data inside DistributedDataParallel, and metrics are all-reduced so the
logged recon / KL / ELBO are global. Only rank 0 writes the checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of `values` over all ranks (identity in a single process)."""
        if not self.is_distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=_collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def mean(self, values: list[float]) -> list[float]:
        return [v / self.world_size for v in self.sum(values)]


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def setup(device: str = "auto") -> World:
    """Join the torchrun process group if launched by torchrun; otherwise a single-process World."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return World(rank, world_size, local_rank)


def teardown(world: World) -> None:
    if world.is_distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
