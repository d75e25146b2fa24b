"""Networks of the model.

π (:mod:`.unet`), ψ (:mod:`.skeleton_net`), B (:mod:`.background`), the neural point
transporter (:mod:`.npt`), point representations (:mod:`.points`) and the full
:class:`SkeletonModel` (:mod:`.model`).
"""

from .model import ModelConfig, SkeletonModel

__all__ = ["ModelConfig", "SkeletonModel"]
