"""skeleton_perception: unsupervised skeleton (joints + links) prediction for ROS 2.

The runtime package: networks (:mod:`skeleton_perception.nn`), the inference API
:class:`SkeletonDetector`, the SkeletonGraph mapping, drawing, and in :mod:`.nodes` the ROS
nodes with their message conversions (the only modules that import ROS). The generated message
classes live in :mod:`skeleton_perception.msg`; the offline training package is installed
as :mod:`skeleton_perception.training`.
"""

from pkgutil import extend_path

# The rosidl-generated modules (skeleton_perception.msg, the type-support extensions) and
# skeleton_perception.training are installed into site-packages; when this source tree is
# imported first (running from the repository root), this finds them there too.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"


__all__ = ["SkeletonDetector"]


def __getattr__(name: str):
    """Lazy exports, so ``import skeleton_perception.msg`` does not import torch.

    ``from skeleton_perception import SkeletonDetector`` imports torch only then.
    """
    if name == "SkeletonDetector":
        from .detector import SkeletonDetector

        return SkeletonDetector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
