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
from collections.abc import Callable

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


def configure_fast(
    model: mujoco.MjModel, size: tuple[int, int], fine: bool = False, shadow_size: int = 0
) -> None:
    """Sets a model's visual options for cheap small frames (call before rendering).

    Args:
        model: The model to change in place.
        size: Image ``(height, width)``; the offscreen buffer is shrunk to it.
        fine: Keep MuJoCo's finer tessellation of spheres and capsules (for depth
            images: 12 slices put a capsule's rendered surface up to 3.4% of its radius
            behind the true one).
        shadow_size: Shadow map size in texels; 0 turns shadows off (every light's
            ``castshadow`` too), else the model's lights keep their own setting.
    """
    height, width = size
    model.vis.global_.offwidth = width
    model.vis.global_.offheight = height
    model.vis.quality.shadowsize = shadow_size
    model.vis.quality.offsamples = 0
    if shadow_size == 0:
        model.light_castshadow[:] = 0
    # Coarser tessellation of spheres and capsules: invisible at these sizes, and the
    # vertex work dominates rendering of many-limbed objects.
    if fine:
        model.vis.quality.numslices = max(int(model.vis.quality.numslices), 48)
        model.vis.quality.numstacks = max(int(model.vis.quality.numstacks), 24)
    else:
        model.vis.quality.numslices = min(int(model.vis.quality.numslices), 12)
        model.vis.quality.numstacks = min(int(model.vis.quality.numstacks), 6)


class FrameRenderer:
    """Renders RGB (and depth) frames of one model from an arbitrary camera pose.

    The model must have at least one camera; its pose is overwritten per frame.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        size: tuple[int, int],
        fine: bool = False,
        shadow_size: int = 0,
        extra_geoms: int = 0,
    ):
        """Creates the rendering context.

        Args:
            model: Compiled model (``configure_fast`` is applied to it).
            size: Image ``(height, width)``.
            fine: Finer tessellation (see :func:`configure_fast`), for depth images.
            shadow_size: Shadow map size; 0: no shadows (see :func:`configure_fast`).
            extra_geoms: Room in the scene for geoms that ``render(add=...)`` adds.
        """
        if model.ncam < 1:
            raise ValueError("FrameRenderer: the model needs a camera (id 0) to drive")
        configure_fast(model, size, fine, shadow_size)
        self.size = size
        self._model = model
        self._gl = _thread_context()
        self._con = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_50)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._con)
        self._scene = mujoco.MjvScene(model, maxgeom=max(64, 2 * model.ngeom) + extra_geoms)
        self._scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(shadow_size > 0)
        self._scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self.option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = 0
        self._perturb = mujoco.MjvPerturb()
        self._rect = mujoco.MjrRect(0, 0, size[1], size[0])
        self._buffer = np.empty((size[0], size[1], 3), np.uint8)
        self._depth_buffer = np.empty((size[0], size[1]), np.float32)
        self._sky: tuple[bytes, np.ndarray] | None = None  # (cam_mat, depth of the skybox)

    def render(
        self,
        data: mujoco.MjData,
        cam_pos: np.ndarray,
        cam_mat: np.ndarray,
        add: Callable[[mujoco.MjvScene], None] | None = None,
    ) -> np.ndarray:
        """Renders the current kinematics of ``data`` from the given camera pose.

        ``data`` must be up to date (``mj_kinematics`` + ``mj_camlight`` or
        ``mj_forward``); camera 0 of ``data`` is moved to ``cam_pos``/``cam_mat``.
        ``add``, if given, adds geoms of another model to the scene before drawing
        (``mjv_addGeoms``: an object rendered into a separately built scene).

        Returns:
            A new ``(H, W, 3)`` uint8 RGB image, top row first.
        """
        self._draw(data, cam_pos, cam_mat, add)
        mujoco.mjr_readPixels(self._buffer, None, self._rect, self._con)
        return self._buffer[::-1].copy()

    def render_with_depth(
        self, data: mujoco.MjData, cam_pos: np.ndarray, cam_mat: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`render`, plus the depth image of the same frame.

        Returns:
            ``(H, W, 3)`` uint8 RGB and ``(H, W)`` float32 depth in metres along the
            optical axis (z, as depth cameras report it), NaN where no surface is seen
            (the background). Both top row first, pixel for pixel aligned.
        """
        sky = self._sky_depth(data, cam_pos, cam_mat)
        self._draw(data, cam_pos, cam_mat)
        mujoco.mjr_readPixels(self._buffer, self._depth_buffer, self._rect, self._con)
        depth = self._metres(self._depth_buffer[::-1])
        # The skybox is drawn into the depth buffer too: where nothing is nearer than
        # the skybox alone, the pixel sees no surface.
        depth[~(depth < 0.999 * sky)] = np.nan
        return self._buffer[::-1].copy(), depth.astype(np.float32)

    def _metres(self, buffer: np.ndarray) -> np.ndarray:
        """Depth buffer values to metres along the optical axis.

        The buffer holds OpenGL's non-linear [0, 1] values between the clipping planes
        (which MuJoCo scales by the model's extent); 1 (nothing drawn) becomes inf.
        """
        extent = float(self._model.stat.extent)
        near = float(self._model.vis.map.znear) * extent
        far = float(self._model.vis.map.zfar) * extent
        values = buffer.astype(np.float64)
        with np.errstate(divide="ignore"):
            depth = near / (1.0 - values * (1.0 - near / far))
        depth[values >= 1.0] = np.inf
        return depth

    def _sky_depth(self, data: mujoco.MjData, cam_pos: np.ndarray, cam_mat: np.ndarray):
        """Depth in metres of the skybox alone, rendered once per camera orientation.

        The skybox is centred on the camera: only the orientation and the clipping
        planes change it.
        """
        vis = self._model.vis.map
        key = np.asarray([*np.ravel(cam_mat), vis.znear, vis.zfar], np.float64).tobytes()
        if self._sky is None or self._sky[0] != key:
            groups = self.option.geomgroup.copy()
            self.option.geomgroup[:] = 0
            try:
                self._draw(data, cam_pos, cam_mat)
            finally:
                self.option.geomgroup[:] = groups
            mujoco.mjr_readPixels(None, self._depth_buffer, self._rect, self._con)
            self._sky = (key, self._metres(self._depth_buffer[::-1]))
        return self._sky[1]

    def _draw(
        self,
        data: mujoco.MjData,
        cam_pos: np.ndarray,
        cam_mat: np.ndarray,
        add: Callable[[mujoco.MjvScene], None] | None = None,
    ) -> None:
        """Draws the scene into the offscreen buffer."""
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
        if add is not None:
            add(self._scene)
        mujoco.mjr_render(self._rect, self._scene, self._con)

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
