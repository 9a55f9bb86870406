"""PyTorch eager: the network as trained, and the only backend that runs any input size of any network."""

from __future__ import annotations

from typing import Any

import numpy as np

from lwirst.backends.base import BackendSpec, NetworkSource


class TorchBackend:
    name = "torch"

    def __init__(self, module: Any, threads: int | None = None, *, channels_last: bool = False) -> None:
        import torch

        self.module = module.eval()
        first = next((m for m in module.modules() if isinstance(m, torch.nn.Conv2d)), None)
        self.in_channels = first.in_channels if first is not None else 3
        self.threads = threads
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        # torch's thread count is process-wide: set it per call so several segmenters coexist.
        if self.threads and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        device = next(self.module.parameters()).device  # a model still on the GPU after training
        with torch.no_grad():
            x = torch.from_numpy(batch).to(device).contiguous(memory_format=self.memory_format)
            return self.module(x).contiguous().cpu().numpy()


def build(source: NetworkSource) -> TorchBackend:
    return TorchBackend(source.module(), source.threads, channels_last=source.options.channels_last)


SPEC = BackendSpec(name="torch", package="torch", runtime="torch", build=build, runs_onnx=False, preference=30,
                   threads="torch.set_num_threads before each call (process-wide)")
