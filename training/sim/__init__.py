"""MuJoCo-rendered training data: the paper's five synthetic datasets.

Object families (:mod:`.families`) build MJCF models; :mod:`.episode` simulates an object
under a random policy and renders it through a camera planned by :mod:`.camera`;
:mod:`.datasets` names the five datasets and their splits; :mod:`.storage` reads and writes
the on-disk shards; :mod:`.pairs` serves (source, target) frame pairs to PyTorch;
:mod:`.live` plays episodes forever for the ROS simulated camera; :mod:`.generate` and
:mod:`.preview` are the ``skeleton-perception generate`` / ``preview`` commands. The
on-disk format is documented in ``docs/data.md``.
"""

import os as _os

# Headless rendering: must be chosen before mujoco is first imported (osmesa also works).
_os.environ.setdefault("MUJOCO_GL", "egl")
# Mesa's llvmpipe: single-threaded rasterising is ~45% faster for small frames.
_os.environ.setdefault("LP_NUM_THREADS", "0")
