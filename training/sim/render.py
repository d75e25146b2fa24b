"""Fast offscreen rendering of small frames with one OpenGL context per thread.

MuJoCo's defaults (a 2048² shadow map, 4x MSAA, a 640x480 offscreen buffer) make 64x64
frames about 20x slower than needed; :func:`configure_fast` turns them off. A GL context
costs tens of milliseconds to create but a :class:`mujoco.MjrContext` on an existing one
about a millisecond, so every :class:`FrameRenderer` of a thread shares one context.
Set ``MUJOCO_GL=egl`` (the package default) or ``osmesa`` for headless rendering.
"""

from __future__ import annotations

import atexit
import contextlib
import threading

import mujoco
import numpy as np

_local = threading.local()
_all_contexts: list = []
_lock = threading.Lock()


def _thread_context():
    """The calling thread's GL context, created on first use (freed at exit)."""
    ctx = getattr(_local, "context", None)
    if ctx is None:
        ctx = mujoco.GLContext(64, 64)
        _local.context = ctx
        with _lock:
            _all_contexts.append(ctx)
    ctx.make_current()
    return ctx


@atexit.register
def _free_contexts() -> None:
    with _lock:
        while _all_contexts:
            ctx = _all_contexts.pop()
            with contextlib.suppress(Exception):  # the driver may already be gone at exit
                ctx.free()
            # GLContext.__del__ would free again and print a traceback at exit.
            ctx._context = None


def configure_fast(model: mujoco.MjModel, size: tuple[int, int]) -> None:
    """Sets a model's visual options for cheap small frames (call before rendering).

    Args:
        model: The model to change in place.
        size: Image ``(height, width)``; the offscreen buffer is shrunk to it.
    """
    height, width = size
    model.vis.global_.offwidth = width
    model.vis.global_.offheight = height
    model.vis.quality.shadowsize = 0
    model.vis.quality.offsamples = 0
    model.light_castshadow[:] = 0
    # Coarser tessellation of spheres and capsules: invisible at these sizes, and the
    # vertex work dominates rendering of many-limbed objects.
    model.vis.quality.numslices = min(int(model.vis.quality.numslices), 12)
    model.vis.quality.numstacks = min(int(model.vis.quality.numstacks), 6)


class FrameRenderer:
    """Renders RGB frames of one model from an arbitrary camera pose.

    The model must have at least one camera; its pose is overwritten per frame.
    """

    def __init__(self, model: mujoco.MjModel, size: tuple[int, int]):
        """Creates the rendering context.

        Args:
            model: Compiled model (``configure_fast`` is applied to it).
            size: Image ``(height, width)``.
        """
        if model.ncam < 1:
            raise ValueError("FrameRenderer: the model needs a camera (id 0) to drive")
        configure_fast(model, size)
        self.size = size
        self._model = model
        self._gl = _thread_context()
        self._con = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_50)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._con)
        self._scene = mujoco.MjvScene(model, maxgeom=max(64, 2 * model.ngeom))
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
            self._scene.flags[flag] = 0
        self.option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = 0
        self._perturb = mujoco.MjvPerturb()
        self._rect = mujoco.MjrRect(0, 0, size[1], size[0])
        self._buffer = np.empty((size[0], size[1], 3), np.uint8)

    def render(self, data: mujoco.MjData, cam_pos: np.ndarray, cam_mat: np.ndarray) -> np.ndarray:
        """Renders the current kinematics of ``data`` from the given camera pose.

        ``data`` must be up to date (``mj_kinematics`` + ``mj_camlight`` or
        ``mj_forward``); camera 0 of ``data`` is moved to ``cam_pos``/``cam_mat``.

        Returns:
            A new ``(H, W, 3)`` uint8 RGB image, top row first.
        """
        data.cam_xpos[0] = cam_pos
        data.cam_xmat[0] = cam_mat.reshape(-1)
        self._gl.make_current()
        mujoco.mjv_updateScene(
            self._model,
            data,
            self.option,
            self._perturb,
            self._camera,
            mujoco.mjtCatBit.mjCAT_ALL,
            self._scene,
        )
        mujoco.mjr_render(self._rect, self._scene, self._con)
        mujoco.mjr_readPixels(self._buffer, None, self._rect, self._con)
        return self._buffer[::-1].copy()

    def close(self) -> None:
        """Frees the MuJoCo rendering context (the thread's GL context is kept)."""
        if self._con is not None:
            self._gl.make_current()
            self._con.free()
            self._con = None

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
