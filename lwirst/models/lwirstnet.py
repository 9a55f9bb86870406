"""LW-IRSTNet in the registry; the network itself lives in `lwirst.model`, its config in `lwirst.config`."""

from __future__ import annotations

from lwirst.config import NetConfig
from lwirst.model import LWIRSTNet
from lwirst.models.base import Architecture

ARCHITECTURE = Architecture("lwirstnet", "LW-IRSTNet", LWIRSTNet, NetConfig,
                            "Kou et al., LW-IRSTNet, IEEE TGRS 2023")
