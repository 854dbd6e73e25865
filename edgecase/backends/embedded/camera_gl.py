"""The moderngl camera engine: OpenGL 3.3 on Mesa's llvmpipe through EGL (no display, no GPU).

How (the approach measured in ../shared/docs/cpu-sensors-notes.md, section 2; here ~9 ms per
1280x720 frame with 20 actors on one core, about half of it llvmpipe filling the four targets):
* One standalone EGL context per process, created on first use (~240 ms) and kept; a failure is
  remembered too, so "auto" tries only once. Each call makes it current in the calling thread under
  a lock, so renderers may run in any thread (one frame at a time). It needs the OS packages
  libegl1, libegl-mesa0 and libgl1-mesa-dri; the pip wheels alone are not enough.
* One framebuffer per camera with four colour attachments written by one draw per pass (MRT):
  RGBA8 colour, R32F planar depth (the optical z, a perspective-correct varying), R16UI actor id
  and R8UI tag (flat ints), read back with `read_into` straight into the output arrays (the colour
  as RGBA, then cv2.cvtColor: Mesa packs 3-component reads on a slow path). `fbo.clear` would
  write one value into every attachment, so only the depth buffer is cleared (through a
  depth-only framebuffer); the sky fills what nothing else covered.
* The projection maps v (image rows, y down) to window y, so window row 0 is image row 0: the
  read-back comes out top-down with no flip. Window x = u, so pixel centres sit at +0.5 as in CARLA.
* Passes, each pixel shaded about once (llvmpipe's cost is per shaded pixel): (1) the ground, top
  layer first, every layer at a constant depth-buffer value a step nearer than the layer below, with
  LESS: lower layers fail the early depth test where an upper one was drawn, and the result is the
  painter's (which draws lowest first, last wins; the order within a layer is reversed to match).
  The ground never hides a box (the camera is above it), so its depth values sit behind every box.
  (2) Boxes, back faces culled, LESS on a linear depth (gl_FragDepth = z / DEPTH_RANGE_M, 24 bits:
  0.24 mm steps), so distant boxes sort exactly. (3) A screen-covering sky grid at depth 1.0 with
  LEQUAL: shaded only where the cleared value is left (depth inf, tag 11, id 0); its colours are
  Lighting.sky at the grid's vertices, interpolated (within a level of the painter's per-pixel sky).
* Rows above the ground's horizon line and every box's top are all sky: they are scissored off,
  not read back, and filled from a cached per-pixel sky (about half a forward camera's image).
* The static scene is uploaded once (its lit colours again only when the lighting changes); box
  triangles (12 per box, colours shaded by face normal) go to a growing buffer each frame.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

import cv2
import numpy as np

from edgecase.backends.embedded.camera import NEAR_M, BoxFaces, EngineUnavailable, View, sky_key, sky_pixels
from edgecase.backends.embedded.lighting import SKY_DISTANCE_M, Lighting
from edgecase.backends.embedded.scene import TAG_SKY, StaticScene
from edgecase.sensors.rig import Camera

DEPTH_RANGE_M = 4000.0  # linear depth buffer range
FAR_CLIP_M = 100_000.0

_context: tuple[int, object] | None = None  # (pid, moderngl.Context): one per process
_lock = threading.Lock()  # the context is current in one thread at a time
_failure: tuple[int, str] | None = None

_VERTEX = """
#version 330
uniform mat4 u_view;  // world -> optical
uniform mat4 u_proj;  // optical -> clip
in vec3 in_pos;
in vec3 in_col;
in uint in_id;
in uint in_tag;
in float in_layer;  // ground: its depth-buffer value (constant per layer); boxes: unused
out vec3 v_opt;
flat out vec3 v_col;
flat out uint v_id;
flat out uint v_tag;
void main() {
    vec4 p = u_view * vec4(in_pos, 1.0);
    v_opt = p.xyz;
    v_col = in_col;
    v_id = in_id;
    v_tag = in_tag;
    gl_Position = u_proj * p;
#ifdef GROUND
    // a constant depth per layer (clipping then happens at the camera plane, w = 0, not the near plane)
    gl_Position.z = (2.0 * in_layer - 1.0) * gl_Position.w;
#endif
}
"""

_FRAGMENT = """
#version 330
uniform vec3 u_fog_rgb;
uniform float u_fog_start;
uniform float u_fog_k;
in vec3 v_opt;
flat in vec3 v_col;
flat in uint v_id;
flat in uint v_tag;
layout(location = 0) out vec4 o_rgb;
layout(location = 1) out float o_depth;
layout(location = 2) out uint o_id;
layout(location = 3) out uint o_tag;
void main() {
    float dist = min(length(v_opt), SKY_DISTANCE);
    float fog = 1.0 - exp(-u_fog_k * max(dist - u_fog_start, 0.0));
    o_rgb = vec4(mix(v_col, u_fog_rgb, fog), 1.0);
    o_depth = v_opt.z;
    o_id = v_id;
    o_tag = v_tag;
#ifndef GROUND
    gl_FragDepth = clamp(v_opt.z / DEPTH_RANGE, 0.0, BOX_MAX_DEPTH);  // linear: exact ordering of boxes
#endif
}
"""

_SKY_VERTEX = """
#version 330
in vec2 in_ndc;
in vec3 in_col;
out vec3 v_col;
void main() {  // a screen-covering grid at the far end of the depth range
    v_col = in_col;
    gl_Position = vec4(in_ndc, 1.0, 1.0);
}
"""

_SKY_FRAGMENT = """
#version 330
in vec3 v_col;
layout(location = 0) out vec4 o_rgb;
layout(location = 1) out float o_depth;
layout(location = 2) out uint o_id;
layout(location = 3) out uint o_tag;
void main() {
    o_rgb = vec4(v_col, 1.0);
    o_depth = uintBitsToFloat(0x7F800000u);  // +inf: nothing hit
    o_id = 0u;
    o_tag = SKY_TAG;
}
"""

_BOX_TRIANGLES = np.array([0, 1, 2, 0, 2, 3])  # a quad loop -> two triangles, same winding
_BOX_VERTEX = np.dtype([("pos", "f4", 3), ("col", "f4", 3), ("id", "u4"), ("tag", "u4")])
_GROUND_VERTEX = np.dtype([("pos", "f4", 3), ("col", "f4", 3), ("id", "u4"), ("tag", "u4"), ("layer", "f4")])
GROUND_DEPTH = 1.0 - 2.0 ** -8  # the bottom layer's depth-buffer value; each layer above is LAYER_STEP nearer
LAYER_STEP = 2.0 ** -16  # 256 steps of the 24-bit buffer: well above llvmpipe's interpolation error
SKY_GRID = (16, 9)  # cells across, down
BOX_MAX_DEPTH = 0.9  # boxes (linear depth, 3600 m) stay in front of every ground layer


def gl_context():
    """The process's EGL context (created once); EngineUnavailable with the reason otherwise."""
    global _context, _failure
    pid = os.getpid()  # a forked child cannot use its parent's context
    if _context is not None and _context[0] == pid:
        return _context[1]
    if _failure is not None and _failure[0] == pid:
        raise EngineUnavailable(_failure[1])
    try:
        import moderngl

        ctx = moderngl.create_standalone_context(backend="egl", require=330)
    except Exception as e:  # ImportError, missing libEGL, no Mesa driver ...: all mean "use the painter"
        _failure = (pid, f"moderngl EGL context unavailable: {type(e).__name__}: {e}".strip())
        raise EngineUnavailable(_failure[1]) from e
    _context = (pid, ctx)
    return ctx


class _Target:
    """One camera's framebuffer: colour, linear depth, id and tag attachments plus a depth buffer
    (also wrapped alone, so that clearing it leaves the colour attachments be)."""

    def __init__(self, ctx, camera: Camera, sky_prog) -> None:
        size = (camera.width_px, camera.height_px)
        self.buffers = [ctx.renderbuffer(size, 4, dtype="f1"), ctx.renderbuffer(size, 1, dtype="f4"),
                        ctx.renderbuffer(size, 1, dtype="u2"), ctx.renderbuffer(size, 1, dtype="u1")]
        self.depth = ctx.depth_renderbuffer(size)
        self.fbo = ctx.framebuffer(color_attachments=self.buffers, depth_attachment=self.depth)
        self.depth_only = ctx.framebuffer(depth_attachment=self.depth)
        # the sky: a grid of SKY_GRID cells over the screen, colours per vertex (Lighting.sky at the
        # vertex's ray), interpolated: per-pixel maths costs llvmpipe more than the gradient is worth
        cols, rows = SKY_GRID
        ndc = np.stack(np.meshgrid(np.linspace(-1, 1, cols + 1), np.linspace(-1, 1, rows + 1)), axis=-1).reshape(-1, 2)
        a = (np.arange(rows)[:, None] * (cols + 1) + np.arange(cols)[None]).ravel()
        corners = np.stack([a, a + 1, a + cols + 2, a, a + cols + 2, a + cols + 1], axis=1).ravel()
        self.sky_ndc = ndc[corners]
        self.sky_window = (self.sky_ndc + 1.0) / 2.0 * np.array(size, float)  # window x = u, window y = v
        self.sky_data = np.zeros(len(corners), [("ndc", "f4", 2), ("col", "f4", 3)])
        self.sky_data["ndc"] = self.sky_ndc
        self.sky_buffer = ctx.buffer(reserve=self.sky_data.nbytes, dynamic=True)
        self.sky_vao = ctx.vertex_array(sky_prog, [(self.sky_buffer, "2f 3f", "in_ndc", "in_col")])
        self._sky_key: tuple | None = None
        self._sky: np.ndarray | None = None

    def sky_colours(self, view: View, lighting: Lighting) -> None:
        k = view.intrinsics
        rays = np.column_stack([(self.sky_window - k[:2, 2]) / k[0, 0], np.ones(len(self.sky_window))])
        world = rays @ view.world_from_optical.T
        self.sky_data["col"] = lighting.sky(world[:, 2] / np.linalg.norm(world, axis=1))
        self.sky_buffer.write(self.sky_data.tobytes())

    def sky_image(self, view: View, lighting: Lighting) -> np.ndarray:
        """The per-pixel sky (camera.sky_pixels), cached until the lighting or the tilt changes."""
        key = sky_key(view, lighting)
        if self._sky_key != key:
            self._sky_key, self._sky = key, sky_pixels(view, lighting)
        return self._sky

    def release(self) -> None:
        for obj in (self.sky_vao, self.sky_buffer, self.fbo, self.depth_only, self.depth, *self.buffers):
            obj.release()


class GLEngine:
    name = "moderngl-egl"

    def __init__(self, static: StaticScene, cameras: Mapping[str, Camera]) -> None:
        self.ctx = ctx = gl_context()
        import moderngl

        self._mgl = moderngl
        self._box_buffer = self._box_vao = None
        self._box_capacity = 0
        self._lit: Lighting | None = None
        self._targets: dict[str, _Target] = {}
        with _lock, ctx:
            self._setup(static, cameras)

    def _setup(self, static: StaticScene, cameras: Mapping[str, Camera]) -> None:
        ctx = self.ctx
        try:
            defines = {"SKY_DISTANCE": f"{SKY_DISTANCE_M:.1f}", "DEPTH_RANGE": f"{DEPTH_RANGE_M:.1f}",
                       "BOX_MAX_DEPTH": f"{BOX_MAX_DEPTH}", "SKY_TAG": f"{TAG_SKY}u"}
            ground = {**defines, "GROUND": "1"}
            self.ground_prog = ctx.program(vertex_shader=_define(_VERTEX, ground),
                                           fragment_shader=_define(_FRAGMENT, ground))
            self.box_prog = ctx.program(vertex_shader=_define(_VERTEX, defines),
                                        fragment_shader=_define(_FRAGMENT, defines))
            self.sky_prog = ctx.program(vertex_shader=_SKY_VERTEX, fragment_shader=_define(_SKY_FRAGMENT, defines))
            self._upload_static(static)
            self._ground_top_z = float(static.triangles_m[..., 2].max()) if len(static.triangles_m) else -np.inf
            self._targets = {name: _Target(ctx, cam, self.sky_prog) for name, cam in cameras.items()}
        except Exception as e:  # a driver without MRT integer targets, ...
            raise EngineUnavailable(f"moderngl setup failed: {type(e).__name__}: {e}") from e

    # --- uploads --------------------------------------------------------------------------------------

    def _upload_static(self, static: StaticScene) -> None:
        """Top layer first, each layer at a constant depth a step nearer than the one below, drawn
        with LESS: a ground pixel is shaded once (early depth test), and where a layer overlaps
        itself the first drawn wins, so the order within a layer is reversed too: the result is the
        painter's (lowest layer first, last drawn wins)."""
        z = static.triangles_m[:, :, 2].mean(axis=1)
        order = np.argsort(z, kind="stable")[::-1]
        levels, rank = np.unique(np.round(z[order] / 1e-4), return_inverse=True)  # 0 = lowest layer
        self._albedo = static.colour[order].astype(np.float64) / 255.0
        data = np.zeros(3 * len(order), _GROUND_VERTEX)
        data["pos"] = static.triangles_m[order].reshape(-1, 3)
        data["tag"] = np.repeat(static.tag[order], 3)
        data["layer"] = np.repeat(np.maximum(GROUND_DEPTH - rank * LAYER_STEP, BOX_MAX_DEPTH + LAYER_STEP), 3)
        self._static_data = data
        self._static_buffer = self.ctx.buffer(data.tobytes())
        self._static_vao = self.ctx.vertex_array(
            self.ground_prog,
            [(self._static_buffer, "3f 3f u u f", "in_pos", "in_col", "in_id", "in_tag", "in_layer")])

    def _update_static_colours(self, lighting: Lighting) -> None:
        if self._lit != lighting:
            self._static_data["col"] = np.repeat(lighting.shade_ground(self._albedo), 3, axis=0)
            self._static_buffer.write(self._static_data.tobytes())
            self._lit = lighting

    def _upload_boxes(self, faces: BoxFaces) -> int:
        count = len(faces) * 6
        if count > self._box_capacity:
            if self._box_buffer is not None:
                self._box_vao.release()
                self._box_buffer.release()
            self._box_capacity = max(count, 2 * self._box_capacity, 6 * 6 * 32)
            self._box_buffer = self.ctx.buffer(reserve=self._box_capacity * _BOX_VERTEX.itemsize, dynamic=True)
            self._box_vao = self.ctx.vertex_array(
                self.box_prog, [(self._box_buffer, "3f 3f u u", "in_pos", "in_col", "in_id", "in_tag")])
        if count:
            data = np.empty(count, _BOX_VERTEX)
            data["pos"] = faces.quads[:, _BOX_TRIANGLES].reshape(-1, 3)
            data["col"] = np.repeat(faces.colour, 6, axis=0)
            data["id"] = np.repeat(faces.actor_id, 6)
            data["tag"] = np.repeat(faces.tag, 6)
            self._box_buffer.write(data.tobytes())
        return count

    # --- frame ----------------------------------------------------------------------------------------

    def render(self, view: View, faces: BoxFaces, lighting: Lighting):
        """One frame; any thread may call it (the shared context is made current under a lock)."""
        with _lock, self.ctx:
            return self._render(view, faces, lighting)

    def _render(self, view: View, faces: BoxFaces, lighting: Lighting):
        """Ground (top layer first), boxes (back faces culled), then the sky where nothing was drawn;
        rows above `_first_row` hold nothing but sky and come from a cached image instead."""
        mgl, ctx, target = self._mgl, self.ctx, self._targets[view.name]
        self._update_static_colours(lighting)
        box_vertices = self._upload_boxes(faces)
        self._set_uniforms(view, lighting)
        target.sky_colours(view, lighting)
        top = self._first_row(view, faces)
        target.depth_only.clear(depth=1.0)
        target.fbo.use()
        ctx.viewport = (0, 0, view.width, view.height)
        ctx.scissor = (0, top, view.width, view.height - top)  # window y = image row
        ctx.enable(mgl.DEPTH_TEST)
        ctx.disable(mgl.BLEND | mgl.CULL_FACE)
        ctx.depth_func = "<"
        self._static_vao.render(mgl.TRIANGLES)
        if box_vertices:
            ctx.enable(mgl.CULL_FACE)
            ctx.front_face, ctx.cull_face = "ccw", "back"
            self._box_vao.render(mgl.TRIANGLES, vertices=box_vertices)
            ctx.disable(mgl.CULL_FACE)
        ctx.depth_func = "<="  # the sky sits at depth 1.0, the cleared value
        target.sky_vao.render(mgl.TRIANGLES)
        ctx.scissor = None
        return self._read(target, view, lighting, top)

    def _first_row(self, view: View, faces: BoxFaces) -> int:
        """A row above which the image is certainly all sky: the ground lies below its horizon line
        (for a camera above it), a box below its corners' rows. 0 when unsure (a camera at or
        below the ground, or upside down, or a box crossing the near plane)."""
        k, m = view.intrinsics, view.optical_from_world
        a, b, c = view.world_from_optical[2]  # world z of the optical axes
        camera_z = -(view.world_from_optical @ m[:3, 3])[2]  # the camera's position is -R^T t
        if b > -1e-6 or camera_z <= self._ground_top_z:
            return 0
        # ground pixels have a xn + b yn + c < 0, i.e. yn > -(a xn + c) / b; xn is extreme at the edges
        xn = (np.array([0.0, view.width]) - k[0, 2]) / k[0, 0]
        row = k[1, 2] + k[1, 1] * (-(a * xn + c) / b).min()
        if len(faces):
            corners = (faces.quads.reshape(-1, 3) @ m[:3, :3].T + m[:3, 3]).reshape(len(faces.centre), -1, 3)
            ahead = (corners[..., 2] > NEAR_M).all(axis=1)
            behind = (corners[..., 2] <= NEAR_M).all(axis=1)  # invisible
            if not (ahead | behind).all():  # a box across the near plane: its clipped outline could be anywhere
                return 0
            if ahead.any():
                seen = corners[ahead]
                row = min(row, (seen[..., 1] / seen[..., 2] * k[1, 1] + k[1, 2]).min())
        return int(min(max(np.floor(row) - 1, 0), view.height))

    def _set_uniforms(self, view: View, lighting: Lighting) -> None:
        view_bytes = view.optical_from_world.T.astype("f4").tobytes()
        proj_bytes = _projection(view).T.astype("f4").tobytes()
        for prog in (self.ground_prog, self.box_prog):
            prog["u_view"].write(view_bytes)
            prog["u_proj"].write(proj_bytes)
            prog["u_fog_rgb"].value = tuple(lighting.fog_rgb)
            prog["u_fog_start"].value = lighting.fog_start_m
            prog["u_fog_k"].value = lighting.fog_per_m

    def _read(self, target: _Target, view: View, lighting: Lighting, top: int):
        h, w = view.height, view.width
        rgba = np.empty((h, w, 4), np.uint8)  # RGBA reads straight through; RGB is a slower pack in Mesa
        depth = np.empty((h, w), np.float32)
        ids = np.empty((h, w), np.uint16)
        tags = np.empty((h, w), np.uint8)
        box = (0, top, w, h - top)
        if top < h:
            target.fbo.read_into(rgba[top:], box, components=4, attachment=0, alignment=1)
            target.fbo.read_into(depth[top:], box, components=1, attachment=1, alignment=1, dtype="f4")
            target.fbo.read_into(ids[top:], box, components=1, attachment=2, alignment=1, dtype="u2")
            target.fbo.read_into(tags[top:], box, components=1, attachment=3, alignment=1, dtype="u1")
        rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
        if top > 0:
            rgb[:top] = target.sky_image(view, lighting)[:top]
            depth[:top] = np.inf
            ids[:top] = 0
            tags[:top] = TAG_SKY
        return rgb, depth, tags, ids

    def close(self) -> None:
        with _lock, self.ctx:
            self._release()

    def _release(self) -> None:
        for target in self._targets.values():
            target.release()
        self._targets = {}
        for obj in (self._box_vao, self._box_buffer, self._static_vao, self._static_buffer,
                    self.ground_prog, self.box_prog, self.sky_prog):
            if obj is not None:
                obj.release()
        self._box_vao = self._box_buffer = None


def _define(source: str, values: Mapping[str, str]) -> str:
    head, _, body = source.partition("#version 330\n")
    lines = "".join(f"#define {k} {v}\n" for k, v in values.items())
    return f"{head}#version 330\n{lines}{body}"


def _projection(view: View) -> np.ndarray:
    """Optical frame -> clip space with window x = u and window y = v (rows top-down, no flip)."""
    k, w, h, n, f = view.intrinsics, view.width, view.height, NEAR_M, FAR_CLIP_M
    return np.array([[2 * k[0, 0] / w, 0, 2 * k[0, 2] / w - 1, 0],
                     [0, 2 * k[1, 1] / h, 2 * k[1, 2] / h - 1, 0],
                     [0, 0, (f + n) / (f - n), -2 * f * n / (f - n)],
                     [0, 0, 1, 0]])
