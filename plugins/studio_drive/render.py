"""CarRacing's picture, drawn fast.

gymnasium's CarRacing draws every frame polygon by polygon with pygame on a 1000x800 canvas and
shrinks it to the 96x96 observation. Here the track, which does not move during an episode, is
drawn once into a texture in world axes (``TEXELS`` per world unit, with a pyramid of 2x2 averages
for the zoomed-out first second). Each frame is one ``cv2.warpAffine`` of the pyramid level whose
texel is about a frame pixel, around the car (its angle, the zoom, the scroll); the car's
polygons are filled on a patch a few times finer than the frame and shrunk by area (as the stock
canvas is); the dashboard's bars are axis-aligned rectangles whose exact share of each frame
pixel is computed once and kept. Frames finer than the texture (the panel's large view) have
their track drawn polygon by polygon at their own size instead, so its edges stay sharp.

A frame is the stock 1000x800 canvas scaled to (width, height): 96x96 is the observation (squashed
as the stock one is), a larger size the panel's view.
"""

from __future__ import annotations

import math
import os
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pygame  # noqa: E402  (a dependency of gymnasium's CarRacing; its fonts draw the score)
from gymnasium.envs.box2d.car_dynamics import (  # noqa: E402
    SIZE,
    WHEEL_COLOR,
    WHEEL_R,
    WHEEL_W,
    WHEEL_WHITE,
    WHEELPOS,
)
from gymnasium.envs.box2d.car_racing import (  # noqa: E402
    GRASS_DIM,
    PLAYFIELD,
    SCALE,
    WINDOW_H,
    WINDOW_W,
    ZOOM,
)

TEXELS = 4.0  # texture texels per world unit at the finest level
LEVELS = 7  # pyramid levels; the finest texture's side is a multiple of 2**(LEVELS-1)
SIDE = int(math.ceil(2 * PLAYFIELD * TEXELS / 2 ** (LEVELS - 1))) * 2 ** (LEVELS - 1)
# cv2's anti-aliased fill spreads a polygon by about 0.65 pixel each side, pygame's by about 0.5
# canvas pixel (0.03 world unit at full zoom): texture polygons are drawn inset by the difference
INSET = 0.65 / TEXELS - 0.5 / (ZOOM * SCALE)
SUPER = 4  # the car is filled on a patch SUPER times finer than the frame
SHIFT = 4  # fractional bits of polygon vertices given to cv2.fillPoly
# pygame's smoothscale (two fixed-point box passes) returns a flat colour 2 levels darker;
# every colour here is taken down by as much, so flat areas match the stock frame exactly.
OFFSET = 2
# The union of car_dynamics.HULL_POLY1..4 (the hull's four fixtures), traced once so the hull is
# one polygon (HULL_POLY2's sides cross HULL_POLY1's lower edge at x = +-15.5), as rows [x, y, 1].
HULL_OUTLINE = np.array([
    (-60, 130), (60, 130), (60, 110), (15.5, 110), (20, 20), (25, 20), (50, -10), (50, -40),
    (20, -90), (50, -90), (50, -120), (-50, -120), (-50, -90), (-20, -90), (-50, -40),
    (-50, -10), (-25, 20), (-20, 20), (-15.5, 110), (-60, 110)], np.float64) * SIZE
HULL_OUTLINE = np.hstack([HULL_OUTLINE, np.ones((len(HULL_OUTLINE), 1))])
UNIT_SQUARE = np.array([(-1, 1, 1), (1, 1, 1), (1, -1, 1), (-1, -1, 1)], np.float64)
# the car's polygons as templates that an affine map takes to the frame: 4 wheels, the hull,
# up to 4 stripes; the squares repeat their last corner to match the hull's 20
_SQUARE = np.vstack([UNIT_SQUARE, np.repeat(UNIT_SQUARE[-1:], len(HULL_OUTLINE) - 4, 0)])
CAR_TEMPLATES = np.stack([_SQUARE] * 4 + [HULL_OUTLINE] + [_SQUARE] * 4)
HALF_W, HALF_R = WHEEL_W * SIZE, WHEEL_R * SIZE  # a wheel's half width and radius
# half the sides of a box about the hull's centre, in its axes, that holds the car (the wheels
# steered, the joints stretched a little)
CAR_HALF = (max(abs(x) for x, _ in WHEELPOS) * SIZE + math.hypot(HALF_W, HALF_R) + 0.2,
            float(np.abs(HULL_OUTLINE[:, 1]).max()) + 0.3)
HULL_COLOR = (204, 0, 0)  # car_dynamics: hull.color = (0.8, 0, 0), drawn as int(c * 255)
# dashboard bars, as CarRacing._render_indicators draws them on the 1000x800 canvas
BAR_COLORS = np.array([(255, 255, 255), (0, 0, 255), (0, 0, 255), (51, 0, 255), (51, 0, 255),
                       (0, 255, 0), (255, 0, 0)], np.float32) - OFFSET
BAR_COLORS = np.maximum(BAR_COLORS, 0)
DASH_TOP = WINDOW_H - 5 * WINDOW_H / 40.0  # the black strip's top on the canvas
_S, _H = WINDOW_W / 40.0, WINDOW_H / 40.0
# Each bar is a rectangle on the canvas from a fixed edge (BAR_BASE) to a moving one, BAR_BASE +
# BAR_GAIN * value: vertical for the true speed and the four wheels' ABS speeds (x fixed to
# BAR_ACROSS), horizontal for steering and gyro (y fixed), as CarRacing._render_indicators has it.
BAR_BASE = (WINDOW_H - _H,) * 5 + (20 * _S, 30 * _S)
BAR_GAIN = (-_H * 0.02, -_H * 0.01, -_H * 0.01, -_H * 0.01, -_H * 0.01, _S * -10.0, _S * -0.8)
BAR_ACROSS = tuple((p * _S, (p + 1) * _S) for p in (5, 7, 8, 9, 10)) + (
    (WINDOW_H - 4 * _H, WINDOW_H - 2 * _H),) * 2
FONT_SIZE = 42
TEXT_CENTER = (60, WINDOW_H - WINDOW_H * 2.5 / 40.0)
TEXT_BOX = (125, 100)  # full-canvas pixels at the bottom left that hold the score


def _color(c: Any) -> tuple[int, int, int]:
    """A stock colour (as pygame takes it: truncated to ints) less OFFSET, for cv2."""
    return tuple(max(int(v) - OFFSET, 0) for v in c)


CAR_COLORS = [(*_color(c), 255) for c in (WHEEL_COLOR, WHEEL_WHITE, HULL_COLOR)]


def _poly(points: Any) -> np.ndarray:
    """World polygons (..., 2) -> finest texture vertices (x right, y down) in cv2.fillPoly's
    fixed point (cv2 puts pixel k's centre at k, the texture's continuous coordinates at k + .5)."""
    p = np.asarray(points, np.float64)
    x = (p[..., 0] + PLAYFIELD) * TEXELS - 0.5
    y = (PLAYFIELD - p[..., 1]) * TEXELS - 0.5
    return np.round(np.stack([x, y], -1) * (1 << SHIFT)).astype(np.int32)


def _inset(polys: np.ndarray, a: np.ndarray, b: float, back: float) -> np.ndarray:
    """Road tiles and kerbs (n, 4, 2), each [a1, b1, b2, a2] (a, b: its sides; a2-b2: the edge
    it shares with the piece drawn before it), with side a moved inwards by `a` (one per piece),
    side b by `b` and edge a2-b2 by `back`."""
    a1, b1, b2, a2 = (polys[:, i] for i in range(4))
    u1, u2 = _unit(b1 - a1), _unit(b2 - a2)
    a = a[:, None]
    a1, b1, a2, b2 = a1 + a * u1, b1 - b * u1, a2 + a * u2, b2 - b * u2
    return np.stack([a1, b1, b2 + back * _unit(b1 - b2), a2 + back * _unit(a1 - a2)], 1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.hypot(v[:, 0], v[:, 1]), 1e-9)[:, None]


# the grass squares, (400, 4, 2) world units, as CarRacing._render_road lays them out
GRASS = np.array([[(GRASS_DIM * (x + 1), GRASS_DIM * y), (GRASS_DIM * x, GRASS_DIM * y),
                   (GRASS_DIM * x, GRASS_DIM * (y + 1)), (GRASS_DIM * (x + 1), GRASS_DIM * (y + 1))]
                  for x in range(-20, 20, 2) for y in range(-20, 20, 2)], np.float64)
_BASE: dict[tuple, np.ndarray] = {}


def _base_texture(bg: tuple, grass: tuple) -> np.ndarray:
    """The playfield and its grass squares, at the finest level (cached: the same each track)."""
    key = (bg, grass)
    if key not in _BASE:
        _BASE.clear()
        tex = np.zeros((SIDE, SIDE, 3), np.uint8)
        p = PLAYFIELD - INSET
        cv2.fillPoly(tex, [_poly([(-p, p), (p, p), (p, -p), (-p, -p)])], bg, cv2.LINE_AA, SHIFT)
        # every square inset on all sides: its corners move towards its centre
        centres = GRASS.mean(1, keepdims=True)
        squares = _poly(GRASS + np.sign(centres - GRASS) * INSET)
        cv2.fillPoly(tex, squares, grass, cv2.LINE_AA, SHIFT)
        _BASE[key] = tex
    return _BASE[key]


def _bar_span(k: int, end: int, rising: bool) -> tuple[int, int, int, int]:
    """Bar k's pixels on the canvas, [x0, x1) x [y0, y1), its moving edge truncated to the pixel
    `end` (`rising`: below its fixed edge): pygame fills between the truncated edges, both
    included."""
    lo, hi = (end, int(BAR_BASE[k]) + 1) if rising else (int(BAR_BASE[k]), end + 1)
    lo, hi = max(lo, 0), min(hi, WINDOW_H if k < 5 else WINDOW_W)
    across = int(BAR_ACROSS[k][0]), int(BAR_ACROSS[k][1]) + 1
    return (*across, lo, hi) if k < 5 else (lo, hi, *across)


def _shares(n: int, canvas: int) -> np.ndarray:
    """(canvas + 1, n): how much of each of n frame pixels the canvas span [0, x) covers."""
    step = canvas / n
    x = np.arange(canvas + 1, dtype=np.float32)[:, None]
    return np.clip((x - np.arange(n, dtype=np.float32) * step) / step, 0, 1)


class Renderer:
    """Draws the frames of one CarRacing env (gymnasium's class, unwrapped) from its state.

    The texture is rebuilt when the env has a new track (``env.road_poly`` is a new list); the
    env's contact listener adds the tiles it touches to ``touched`` (touching recolours a tile to
    the plain road colour), and those are redrawn before the next frame.
    """

    def __init__(self, env: Any):
        self.env = env
        self.road_poly: list | None = None  # the list the texture was drawn from
        self.levels: list[np.ndarray] = []  # the texture pyramid, finest first
        self.touched: set = set()
        self._tiles: list[tuple[int, int, tuple]] = []  # per tile: road_poly span, colour drawn
        self._polys: list[np.ndarray] = []  # road_poly as drawn on the texture
        self._world: np.ndarray | None = None  # road_poly's corners (n, 4, 2), world units
        self._text: dict[tuple, np.ndarray] = {}
        self._bars: dict[tuple, tuple] = {}  # the dashboard bars' pixels, by bar and place
        self._shares: dict[tuple, tuple] = {}
        self._font: Any = None

    # the track texture
    def _build(self) -> None:
        env = self.env
        self.road_poly = env.road_poly
        self.touched.clear()
        tex = _base_texture(_color(env.bg_color), _color(env.grass_color)).copy()
        # each tile's entry in road_poly shares the tile's colour array; its kerb follows it
        starts = {id(t.color) for t in env.road}
        firsts = [j for j, (_, color) in enumerate(env.road_poly) if id(color) in starts]
        tiles = set(firsts)
        # tiles are inset on both sides, kerbs on their outer side (the inner one is the road's
        # edge); both where they meet the piece before them, which they overlap as in the stock
        sides = np.array([INSET if j in tiles else 0.0 for j in range(len(env.road_poly))])
        self._world = np.array([p for p, _ in env.road_poly], np.float64)
        self._polys = list(_poly(_inset(self._world, sides, INSET, INSET)))
        for poly, (_, color) in zip(self._polys, env.road_poly, strict=True):
            cv2.fillPoly(tex, [poly], _color(color), cv2.LINE_AA, SHIFT)
        ends = firsts[1:] + [len(env.road_poly)]
        self._tiles = [(a, b, _color(env.road_poly[a][1]))
                       for a, b in zip(firsts, ends, strict=True)]
        self.levels = [tex]
        for _ in range(LEVELS - 1):
            tex = cv2.resize(tex, (tex.shape[1] // 2, tex.shape[0] // 2),
                             interpolation=cv2.INTER_AREA)
            self.levels.append(tex)

    def _recolour(self) -> None:
        """Redraw the touched tiles whose colour changed (with their kerbs, drawn after them)."""
        for tile in self.touched:
            a, b, drawn = self._tiles[tile.idx]
            color = _color(tile.color)
            if color == drawn:
                continue
            self._tiles[tile.idx] = (a, b, color)
            polys = self._polys[a:b]
            for p, (_, c) in zip(polys, self.road_poly[a:b], strict=True):
                cv2.fillPoly(self.levels[0], [p], _color(c), cv2.LINE_AA, SHIFT)
            # refresh the coarser levels over the tiles' box, aligned to the coarsest texel
            pts = np.concatenate(polys) >> SHIFT
            g = 2 ** (LEVELS - 1)
            x0, y0 = (pts.min(0) - 2) // g * g
            x1, y1 = (pts.max(0) + 2 + g) // g * g
            x0, y0 = max(x0, 0), max(y0, 0)
            x1, y1 = min(x1, SIDE), min(y1, SIDE)
            for lv in range(1, LEVELS):
                fine, coarse = self.levels[lv - 1], self.levels[lv]
                src = fine[y0 >> lv - 1:y1 >> lv - 1, x0 >> lv - 1:x1 >> lv - 1]
                coarse[y0 >> lv:y1 >> lv, x0 >> lv:x1 >> lv] = cv2.resize(
                    src, ((x1 - x0) >> lv, (y1 - y0) >> lv), interpolation=cv2.INTER_AREA)
        self.touched.clear()

    # frames
    def frame(self, width: int = 96, height: int = 96, dashboard: bool = True) -> np.ndarray:
        """The picture the stock renderer would draw, as uint8 (height, width, 3)."""
        env = self.env
        if env.road_poly is not self.road_poly:
            self._build()
        elif self.touched:
            self._recolour()
        hull = env.car.hull
        zoom = 0.1 * SCALE * max(1 - env.t, 0) + ZOOM * SCALE * min(env.t, 1)
        sx, sy = width / WINDOW_W * zoom, height / WINDOW_H * zoom
        c, s = math.cos(hull.angle), math.sin(hull.angle)
        # world -> frame pixels: turned by -angle about the car, scaled, the car at (W/2, 3H/4),
        # y upside down (the stock flips its canvas)
        m = (sx * c, sx * s, sy * s, -sy * c)
        px, py = hull.position
        o = (width / 2 - m[0] * px - m[1] * py, height * 3 / 4 - m[2] * px - m[3] * py)
        out = np.empty((height, width, 3), np.uint8)
        # under the dashboard's strip the track is never seen
        rows = min(math.ceil(DASH_TOP * height / WINDOW_H), height) if dashboard else height
        unit = 1 / min(sx, sy)  # world units per frame pixel
        if unit * TEXELS >= 1:
            self._warp(out[:rows], m, o, unit)
        else:
            self._draw_track(out[:rows], m, o)
        self._draw_car(out, m, o)
        if dashboard:
            self._draw_dashboard(out)
        return out

    def _warp(self, out: np.ndarray, m: tuple, o: tuple, unit: float) -> None:
        """The track under the frame: the pyramid level whose texel is about a frame pixel
        (`unit` world units), warped with bilinear interpolation."""
        lv = int(min(max(math.floor(math.log2(unit * TEXELS)), 0), LEVELS - 1))
        d = TEXELS / 2**lv
        det = m[0] * m[3] - m[1] * m[2]
        # frame pixel -> world is m's inverse; world -> texel is (d (x + P), d (P - y))
        k = (d * m[3] / det, -d * m[1] / det, d * m[2] / det, -d * m[0] / det)
        kx = d * PLAYFIELD - k[0] * o[0] - k[1] * o[1]
        ky = d * PLAYFIELD - k[2] * o[0] - k[3] * o[1]
        # cv2 samples pixel centres at whole indices, the continuous coordinates at index + 0.5
        mat = np.array([[k[0], k[1], 0.5 * (k[0] + k[1]) + kx - 0.5],
                        [k[2], k[3], 0.5 * (k[2] + k[3]) + ky - 0.5]])
        cv2.warpAffine(self.levels[lv], mat, (out.shape[1], out.shape[0]), dst=out,
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))

    def _draw_track(self, out: np.ndarray, m: tuple, o: tuple) -> None:
        """The track drawn polygon by polygon at the frame's own size, in the stock's order
        (playfield, grass, road tiles each with its kerb), those outside the frame left out."""
        env = self.env
        height, width = out.shape[:2]
        to_frame = np.array([(m[0], m[2]), (m[1], m[3])])
        shift = np.array(o) - 0.5  # cv2 puts pixel centres at whole numbers

        def fill(polys: np.ndarray, colors: list | tuple) -> None:
            pts = polys @ to_frame + shift
            seen = ((pts.max(1) > 0) & (pts.min(1) < (width, height))).all(1)
            pts = np.round(pts * (1 << SHIFT)).astype(np.int32)
            if isinstance(colors, tuple):  # one colour: one call
                cv2.fillPoly(out, pts[seen], colors, cv2.LINE_AA, SHIFT)
                return
            for j in np.flatnonzero(seen):
                cv2.fillPoly(out, pts[j:j + 1], _color(colors[j]), cv2.LINE_AA, SHIFT)

        out[:] = 0
        p = PLAYFIELD
        fill(np.array([[(-p, p), (p, p), (p, -p), (-p, -p)]]), _color(env.bg_color))
        fill(GRASS, _color(env.grass_color))
        fill(self._world, [c for _, c in env.road_poly])

    def _draw_car(self, out: np.ndarray, m: tuple, o: tuple) -> None:
        """The wheels (black, with the grey stripe that shows their spin) and the hull, as
        car_dynamics.Car.draw draws them (without the skid marks, as in the observation). They
        are filled without anti-aliasing on the frame's pixels around the car blown up at least
        as fine as the stock canvas, which are then shrunk back by area, as the stock frame is."""
        car = self.env.car
        height, width = out.shape[:2]
        f = SUPER
        # the hull sits upright at (W/2, 3H/4) (the view turns with it); the box holds the car
        rx, ry = CAR_HALF[0] * math.hypot(m[0], m[1]), CAR_HALF[1] * math.hypot(m[2], m[3])
        x0, x1 = max(int(width / 2 - rx), 0), min(math.ceil(width / 2 + rx), width)
        y0, y1 = max(int(height * 0.75 - ry), 0), min(math.ceil(height * 0.75 + ry), height)
        if x1 <= x0 or y1 <= y0:
            return
        # body -> patch pixels in cv2's fixed point (pixel centres at whole numbers; + 0.5 so
        # that truncating to int rounds)
        k = f * (1 << SHIFT)
        m0, m1, m2, m3 = m[0] * k, m[1] * k, m[2] * k, m[3] * k
        centre = 0.5 * (1 << SHIFT) - 0.5
        ox, oy = k * (o[0] - x0) - centre, k * (o[1] - y0) - centre
        cos, sin = math.cos, math.sin
        wheels, stripes = [], []  # per polygon: template -> patch, as rows [x, y, 1] @ (3, 2)
        for b in car.wheels:
            c, s = cos(b.angle), sin(b.angle)
            p = b.position
            xx, xy, yx, yy = m0 * c + m1 * s, m1 * c - m0 * s, m2 * c + m3 * s, m3 * c - m2 * s
            tx, ty = m0 * p.x + m1 * p.y + ox, m2 * p.x + m3 * p.y + oy
            wheels.append((xx * HALF_W, yx * HALF_W, xy * HALF_R, yy * HALF_R, tx, ty))
            # the stripe spans the wheel's phase .. phase + 1.2 (car_dynamics.Car.draw)
            a = b.phase
            s1, s2 = sin(a), sin(a + 1.2)
            if s1 > 0 and s2 > 0:
                continue
            c1 = math.copysign(1.0, cos(a)) if s1 > 0 else cos(a)
            c2 = math.copysign(1.0, cos(a + 1.2)) if s2 > 0 else cos(a + 1.2)
            mid, half = (c1 + c2) * HALF_R / 2, (c1 - c2) * HALF_R / 2
            stripes.append((xx * HALF_W, yx * HALF_W, xy * half, yy * half,
                            tx + xy * mid, ty + yy * mid))
        # the hull: upright, its centre at (W/2, 3H/4)
        hull = (k * math.hypot(m[0], m[1]), 0.0, 0.0, -k * math.hypot(m[2], m[3]),
                k * (width / 2 - x0) - centre, k * (height * 0.75 - y0) - centre)
        # wheels, hull, stripes: one product with their templates
        maps = np.array([*wheels, hull, *stripes]).reshape(-1, 3, 2)
        polys = (CAR_TEMPLATES[:len(maps)] @ maps).astype(np.int32)
        patch = cv2.resize(out[y0:y1, x0:x1], None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST)
        cv2.fillPoly(patch, polys[:4], CAR_COLORS[0], cv2.LINE_8, SHIFT)
        if len(polys) > 5:
            cv2.fillPoly(patch, polys[5:], CAR_COLORS[1], cv2.LINE_8, SHIFT)
        cv2.fillPoly(patch, polys[4:5], CAR_COLORS[2], cv2.LINE_8, SHIFT)
        out[y0:y1, x0:x1] = cv2.resize(patch, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)

    def _draw_dashboard(self, out: np.ndarray) -> None:
        """The black strip, the bars (true speed, the four wheels' ABS speeds, steering, gyro)
        and the score, as CarRacing._render_indicators and _render draw them on the canvas,
        each bar's share of each frame pixel computed (the stock frame is an area average)."""
        car = self.env.car
        height, width = out.shape[:2]
        top = DASH_TOP * height / WINDOW_H  # the strip's top edge in frame pixels
        r = int(top)
        strip = out[r:]
        if top > r:  # the strip covers the lower part of its first row
            strip[1:] = 0
            strip[0] = strip[0] * (top - r)
        else:
            strip[:] = 0
        v, w = car.hull.linearVelocity, car.wheels
        values = (math.hypot(v[0], v[1]), w[0].omega, w[1].omega, w[2].omega, w[3].omega,
                  w[0].joint.angle, car.hull.angularVelocity)
        places, paints, tall = [], [], []  # on the strip, flattened: neighbours share pixels
        for k, value in enumerate(values):
            if -1e-4 <= value <= 1e-4:  # the stock leaves it out
                continue
            edge = BAR_BASE[k] + BAR_GAIN[k] * value
            key = (width, height, k, int(edge), edge < BAR_BASE[k])
            bar = self._bars.get(key)
            if bar is None:
                if len(self._bars) > 8192:
                    self._bars.clear()
                bar = self._bars[key] = self._bar(*key)
            if bar[0] is None:  # it reaches above the strip, over the road
                tall.append((k, *bar[1]))
            else:
                places.append(bar[0])
                paints.append(bar[1])
        if places:
            add = np.bincount(np.concatenate(places), np.concatenate(paints), strip.size)
            if top > r:
                add += strip.reshape(-1)
            strip[:] = np.minimum(add + 0.5, 255).reshape(strip.shape)
        for k, rows, cols, cover in tall:
            view = out[rows, cols]
            view[:] = view * (1 - cover) + cover * BAR_COLORS[k] + 0.5
        text = self._score(f"{self.env.reward:04.0f}", width, height)
        tr = round(top)
        out[tr:tr + text.shape[0], :text.shape[1]] = text[:height - tr]

    def _bar(self, width: int, height: int, k: int, end: int, rising: bool) -> tuple:
        """Bar k's pixels on the dashboard's strip, flattened, and its colour times its share
        of each; or (None, (rows, columns, shares)) when it reaches above the strip."""
        if (width, height) not in self._shares:
            self._shares[width, height] = _shares(width, WINDOW_W), _shares(height, WINDOW_H)
        cols, rows = self._shares[width, height]
        x0, x1, y0, y1 = _bar_span(k, end, rising)
        c0, c1 = int(x0 * width / WINDOW_W), math.ceil(x1 * width / WINDOW_W)
        r0, r1 = int(y0 * height / WINDOW_H), math.ceil(y1 * height / WINDOW_H)
        cover = np.outer(rows[y1, r0:r1] - rows[y0, r0:r1], cols[x1, c0:c1] - cols[x0, c0:c1])
        r = int(DASH_TOP * height / WINDOW_H)
        if r0 < r:
            return None, (slice(r0, r1), slice(c0, c1), cover[:, :, None])
        index = np.arange(r0 - r, r1 - r)[:, None, None] * width * 3 + np.arange(
            c0 * 3, c1 * 3).reshape(1, -1, 3)
        return index.reshape(-1), (cover[:, :, None] * BAR_COLORS[k]).reshape(-1)

    def _score(self, text: str, width: int, height: int) -> np.ndarray:
        """The score as the stock draws it (white, 42 px, on black) shrunk to this size."""
        key = (text, width, height)
        patch = self._text.get(key)
        if patch is None:
            if self._font is None:
                pygame.font.init()
                self._font = pygame.font.Font(pygame.font.get_default_font(), FONT_SIZE)
            surf = self._font.render(text, True, (255, 255, 255), (0, 0, 0))
            tw, th = surf.get_size()
            grey = np.frombuffer(pygame.image.tobytes(surf, "RGB"), np.uint8)  # white on black
            grey = grey.reshape(th, tw, 3)[:, :, 0]
            bw, bh = TEXT_BOX
            canvas = np.zeros((bh, bw), np.uint8)
            x = int(TEXT_CENTER[0]) - tw // 2
            y = int(TEXT_CENTER[1]) - th // 2 - (WINDOW_H - bh)
            xs, ys = max(x, 0), max(y, 0)
            canvas[ys:y + th, xs:x + tw] = grey[ys - y:bh - y, xs - x:bw - x]
            size = (max(round(bw * width / WINDOW_W), 1), max(round(bh * height / WINDOW_H), 1))
            patch = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
            patch = cv2.cvtColor(cv2.subtract(patch, OFFSET), cv2.COLOR_GRAY2RGB)
            if len(self._text) > 4096:
                self._text.clear()
            self._text[key] = patch
        return patch
