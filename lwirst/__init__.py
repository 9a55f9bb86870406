"""lwirst: LW-IRSTNet infrared small-target segmentation, from training to deployment."""

from lwirst.config import PRESETS, NetConfig, get_preset
from lwirst.errors import LwirstError

__version__ = "0.1.0"
__all__ = ["PRESETS", "LwirstError", "NetConfig", "__version__", "get_preset"]
