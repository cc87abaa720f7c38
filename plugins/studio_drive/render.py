"""CarRacing's picture, drawn fast.

gymnasium's CarRacing draws every frame polygon by polygon with pygame on a 1000x800 canvas and
shrinks it to the 96x96 observation. Here the track, which does not move during an episode, is
drawn once into a texture in world axes (``TEXELS`` per world unit, with a pyramid of 2x2 averages
for the zoomed-out first second). Each frame is one ``cv2.warpAffine`` of the right pyramid level
around the car (its angle, the zoom, the scroll), the car's polygons drawn over it, and the
dashboard, whose bars are axis-aligned rectangles: their exact coverage of each output pixel is
computed rather than drawn. Small frames (the observation) are drawn at twice their size and
shrunk with an area filter, as the stock canvas is.

A frame is the stock 1000x800 canvas scaled to (width, height): 96x96 is the observation (squashed
as the stock one is), a larger size the panel's view, drawn at that size.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from gymnasium.envs.box2d.car_dynamics import (
    SIZE,
    WHEEL_COLOR,
    WHEEL_R,
    WHEEL_W,
    WHEEL_WHITE,
    WHEELPOS,
)
from gymnasium.envs.box2d.car_racing import GRASS_DIM, PLAYFIELD, SCALE, WINDOW_H, WINDOW_W, ZOOM

TEXELS = 4.0  # texture texels per world unit at the finest level
LEVELS = 7  # pyramid levels; the finest texture's side is a multiple of 2**(LEVELS-1)
SIDE = int(math.ceil(2 * PLAYFIELD * TEXELS / 2 ** (LEVELS - 1))) * 2 ** (LEVELS - 1)
# cv2's anti-aliased fill spreads a polygon by about 0.65 pixel each side, pygame's by about 0.5
# canvas pixel (0.03 world unit at full zoom): texture polygons are drawn inset by the difference
INSET = 0.65 / TEXELS - 0.5 / (ZOOM * SCALE)
SUPER = 6  # the car is filled on a patch up to SUPER times finer than the frame
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
HALF_W, HALF_R = WHEEL_W * SIZE, WHEEL_R * SIZE  # a wheel's half width and radius
# a circle about the hull's centre that holds the car (wheels steered, joints stretched a bit)
CAR_RADIUS = 1.1 * max(float(np.hypot(HULL_OUTLINE[:, 0], HULL_OUTLINE[:, 1]).max()),
                       max(math.hypot(x, y) for x, y in WHEELPOS) * SIZE
                       + math.hypot(HALF_W, HALF_R))
HULL_COLOR = (204, 0, 0)  # car_dynamics: hull.color = (0.8, 0, 0), drawn as int(c * 255)
# dashboard bars, as CarRacing._render_indicators draws them on the 1000x800 canvas
BAR_COLORS = np.array([(255, 255, 255), (0, 0, 255), (0, 0, 255), (51, 0, 255), (51, 0, 255),
                       (0, 255, 0), (255, 0, 0)], np.float32) - OFFSET
BAR_COLORS = np.maximum(BAR_COLORS, 0)
BAR_SCALES = (0.02, 0.01, 0.01, 0.01, 0.01, -10.0, -0.8)
BAR_PLACES = (5, 7, 8, 9, 10, 20, 30)
DASH_TOP = WINDOW_H - 5 * WINDOW_H / 40.0  # the black strip's top on the canvas
BAR_ROWS = (int(WINDOW_H - 4 * WINDOW_H / 40.0), int(WINDOW_H - 2 * WINDOW_H / 40.0) + 1)
FONT_SIZE = 42
TEXT_CENTER = (60, WINDOW_H - WINDOW_H * 2.5 / 40.0)
TEXT_BOX = (125, 100)  # full-canvas pixels at the bottom left that hold the score


def _color(c: Any) -> tuple[int, int, int]:
    """A stock colour (as pygame takes it: truncated to ints) less OFFSET, for cv2."""
    return tuple(max(int(v) - OFFSET, 0) for v in c)


CAR_COLORS = [(*_color(c), 255) for c in (WHEEL_COLOR, WHEEL_WHITE, HULL_COLOR)]


def _poly(points: Any) -> np.ndarray:
    """World polygon -> finest texture vertices (x right, y down) in cv2.fillPoly's fixed point
    (cv2 puts pixel k's centre at k, the texture's continuous coordinates at k + 0.5)."""
    p = np.asarray(points, np.float64)
    x = (p[:, 0] + PLAYFIELD) * TEXELS - 0.5
    y = (PLAYFIELD - p[:, 1]) * TEXELS - 0.5
    return np.round(np.stack([x, y], 1) * (1 << SHIFT)).astype(np.int32)


def _inset(poly: Any, a: float, b: float, back: float) -> np.ndarray:
    """A road tile or kerb [a1, b1, b2, a2] (a, b: its sides; a2-b2: the edge it shares with
    the piece drawn before it) with side a, side b and edge a2-b2 moved inwards by as much."""
    a1, b1, b2, a2 = np.asarray(poly, np.float64)
    u1, u2 = _unit(b1 - a1), _unit(b2 - a2)
    a1, b1, a2, b2 = a1 + a * u1, b1 - b * u1, a2 + a * u2, b2 - b * u2
    return np.array([a1, b1, b2 + back * _unit(b1 - b2), a2 + back * _unit(a1 - a2)])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.hypot(v[0], v[1])), 1e-9)


_BASE: dict[tuple, np.ndarray] = {}


def _base_texture(bg: tuple, grass: tuple) -> np.ndarray:
    """The playfield and its grass squares, at the finest level (cached: the same each track)."""
    key = (bg, grass)
    if key not in _BASE:
        _BASE.clear()
        tex = np.zeros((SIDE, SIDE, 3), np.uint8)
        p, g = PLAYFIELD - INSET, GRASS_DIM - INSET
        cv2.fillPoly(tex, [_poly([(-p, p), (p, p), (p, -p), (-p, -p)])], bg, cv2.LINE_AA, SHIFT)
        squares = [_poly([(GRASS_DIM * x + g, GRASS_DIM * y + INSET),
                          (GRASS_DIM * x + INSET, GRASS_DIM * y + INSET),
                          (GRASS_DIM * x + INSET, GRASS_DIM * y + g),
                          (GRASS_DIM * x + g, GRASS_DIM * y + g)])
                   for x in range(-20, 20, 2) for y in range(-20, 20, 2)]
        cv2.fillPoly(tex, squares, grass, cv2.LINE_AA, SHIFT)
        _BASE[key] = tex
    return _BASE[key]


def _bars(values: tuple) -> list[int]:
    """The dashboard bars' pixels on the canvas as pygame fills them (corners truncated to whole
    pixels, both ends filled), clipped to it: x0, x1, y0, y1 for each bar in turn, an empty span
    where the stock leaves a bar out (its value within 1e-4 of 0)."""
    s, h, bottom = WINDOW_W / 40.0, WINDOW_H / 40.0, WINDOW_H - WINDOW_H / 40.0
    spans = []
    for k, value in enumerate(values):
        if abs(value) <= 1e-4:
            spans += (0, 0, 0, 0)
            continue
        a, b = BAR_PLACES[k] * s, BAR_SCALES[k] * value
        if k < 5:  # vertical (true speed, the four wheels' ABS speeds): up from the bottom
            y = bottom - h * b
            y0, y1 = (int(y), int(bottom) + 1) if b > 0 else (int(bottom), int(y) + 1)
            spans += (int(a), int(a + s) + 1, max(y0, 0), min(y1, WINDOW_H))
        else:  # horizontal (steering, gyro): right from place * s (left when negative)
            x0, x1 = (int(a), int(a + s * b) + 1) if b > 0 else (int(a + s * b), int(a) + 1)
            spans += (max(x0, 0), min(x1, WINDOW_W), BAR_ROWS[0], BAR_ROWS[1])
    return spans


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
        self._text: dict[tuple, np.ndarray] = {}
        self._tables: dict[tuple, tuple] = {}
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
        self._polys = [_poly(_inset(p, INSET, INSET, INSET) if j in tiles
                             else _inset(p, 0, INSET, INSET))
                       for j, (p, _) in enumerate(env.road_poly)]
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
        out = np.zeros((height, width, 3), np.uint8)
        # under the dashboard's strip the track is never seen
        rows = min(math.ceil(DASH_TOP * height / WINDOW_H), height) if dashboard else height
        self._warp(out[:rows], m, o, 1 / min(sx, sy))
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

    def _draw_car(self, out: np.ndarray, m: tuple, o: tuple) -> None:
        """The wheels (black, with the grey stripe that shows their spin) and the hull, as
        car_dynamics.Car.draw draws them (without the skid marks, as in the observation). They
        are filled without anti-aliasing on the frame's pixels around the car blown up at least
        as fine as the stock canvas, which are then shrunk back by area, as the stock frame is."""
        car = self.env.car
        height, width = out.shape[:2]
        f = min(max(math.ceil(WINDOW_W / width), math.ceil(WINDOW_H / height), 4), SUPER)
        # the car sits at (W/2, 3H/4); the box holds it at any angle
        rx, ry = CAR_RADIUS * math.hypot(m[0], m[1]), CAR_RADIUS * math.hypot(m[2], m[3])
        x0, x1 = max(int(width / 2 - rx) - 1, 0), min(int(width / 2 + rx) + 2, width)
        y0, y1 = max(int(height * 0.75 - ry) - 1, 0), min(int(height * 0.75 + ry) + 2, height)
        if x1 <= x0 or y1 <= y0:
            return
        # body -> patch pixels in cv2's fixed point (pixel centres at whole numbers; + 0.5 so
        # that truncating to int rounds)
        k = f * (1 << SHIFT)
        centre = 0.5 * (1 << SHIFT) - 0.5
        ox, oy = k * (o[0] - x0) - centre, k * (o[1] - y0) - centre
        wheels, stripes = [], []  # as affine maps of a unit square
        for b in (*car.wheels, car.hull):
            c, s = math.cos(b.angle), math.sin(b.angle)
            px, py = b.position
            xx, xy = k * (m[0] * c + m[1] * s), k * (m[1] * c - m[0] * s)
            yx, yy = k * (m[2] * c + m[3] * s), k * (m[3] * c - m[2] * s)
            tx, ty = k * (m[0] * px + m[1] * py) + ox, k * (m[2] * px + m[3] * py) + oy
            if b is car.hull:
                break
            wheels.append((xx * HALF_W, yx * HALF_W, xy * HALF_R, yy * HALF_R, tx, ty))
            # the stripe spans the wheel's phase .. phase + 1.2 (car_dynamics.Car.draw)
            s1, s2 = math.sin(b.phase), math.sin(b.phase + 1.2)
            if s1 > 0 and s2 > 0:
                continue
            c1 = math.copysign(1.0, math.cos(b.phase)) if s1 > 0 else math.cos(b.phase)
            c2 = math.copysign(1.0, math.cos(b.phase + 1.2)) if s2 > 0 else math.cos(b.phase + 1.2)
            mid, half = (c1 + c2) / 2 * HALF_R, (c1 - c2) / 2 * HALF_R
            stripes.append((xx * HALF_W, yx * HALF_W, xy * half, yy * half,
                            tx + xy * mid, ty + yy * mid))
        quads = (UNIT_SQUARE @ np.array(wheels + stripes).reshape(-1, 3, 2)).astype(np.int32)
        hull = (HULL_OUTLINE @ np.array((xx, yx, xy, yy, tx, ty)).reshape(3, 2)).astype(np.int32)
        patch = cv2.resize(out[y0:y1, x0:x1], None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST)
        cv2.fillPoly(patch, list(quads[:4]), CAR_COLORS[0], cv2.LINE_8, SHIFT)
        if stripes:
            cv2.fillPoly(patch, list(quads[4:]), CAR_COLORS[1], cv2.LINE_8, SHIFT)
        cv2.fillPoly(patch, [hull], CAR_COLORS[2], cv2.LINE_8, SHIFT)
        out[y0:y1, x0:x1] = cv2.resize(patch, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)

    def _draw_dashboard(self, out: np.ndarray) -> None:
        """The black strip, the bars (true speed, the four wheels' ABS speeds, steering, gyro)
        and the score, as CarRacing._render_indicators and _render draw them on the canvas;
        each bar's share of each frame pixel is computed (the stock frame is an area average)."""
        car = self.env.car
        height, width = out.shape[:2]
        cols, rows, keep, top = self._dash_tables(width, height)
        v = car.hull.linearVelocity
        values = (math.hypot(v[0], v[1]), *(w.omega for w in car.wheels),
                  car.wheels[0].joint.angle, car.hull.angularVelocity)
        spans = _bars(values)
        r = int(top)
        highest = min(spans[2::4])
        if highest < DASH_TOP:  # a bar reaches above the strip
            r = int(highest * height / WINDOW_H)
        cy = rows[spans[3::4], r:] - rows[spans[2::4], r:]  # each bar's share of each row
        cx = cols[spans[1::4]] - cols[spans[0::4]]
        paint = cy.T @ (cx[:, :, None] * BAR_COLORS[:, None, :]).reshape(7, -1)  # (rows, W * 3)
        if r == top:  # the bars lie on the black strip (they share a canvas column: clip)
            out[r:] = np.minimum(paint + 0.5, 255).reshape(-1, width, 3)
        else:
            cover = cy.T @ cx
            region = out[r:] * keep[r:] * (1 - cover)[:, :, None] + paint.reshape(-1, width, 3)
            out[r:] = np.clip(region + 0.5, 0, 255)
        text = self._score(f"{self.env.reward:04.0f}", width, height)
        tr = round(top)
        out[tr:tr + text.shape[0], :text.shape[1]] = text[:height - tr]

    def _dash_tables(self, width: int, height: int) -> tuple:
        """For this frame size: how much of each frame column the canvas span [0, x) covers, for
        every whole x (1001, W), the same for rows (801, H), each row's share left uncovered by
        the black strip (H, 1, 1), and the strip's top in frame pixels."""
        key = (width, height)
        if key not in self._tables:
            def table(n: int, canvas: int) -> np.ndarray:
                step = canvas / n
                edges = np.arange(n, dtype=np.float32) * step
                return np.clip((np.arange(canvas + 1, dtype=np.float32)[:, None] - edges) / step,
                               0, 1)

            rows = table(height, WINDOW_H)
            keep = 1 - (rows[WINDOW_H] - rows[int(DASH_TOP)])
            self._tables[key] = (table(width, WINDOW_W), rows, keep[:, None, None].copy(),
                                 DASH_TOP * height / WINDOW_H)
        return self._tables[key]

    def _score(self, text: str, width: int, height: int) -> np.ndarray:
        """The score as the stock draws it (white, 42 px, on black) shrunk to this size."""
        key = (text, width, height)
        if key not in self._text:
            import os

            os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
            import pygame

            if self._font is None:
                pygame.font.init()
                self._font = pygame.font.Font(pygame.font.get_default_font(), FONT_SIZE)
            surf = self._font.render(text, True, (255, 255, 255), (0, 0, 0))
            glyphs = pygame.surfarray.array3d(surf).transpose(1, 0, 2)
            bw, bh = TEXT_BOX
            canvas = np.zeros((bh, bw, 3), np.uint8)
            tw, th = surf.get_size()
            x = int(TEXT_CENTER[0]) - tw // 2
            y = int(TEXT_CENTER[1]) - th // 2 - (WINDOW_H - bh)
            xs, ys = max(x, 0), max(y, 0)
            canvas[ys:y + th, xs:x + tw] = glyphs[ys - y:bh - y, xs - x:bw - x]
            size = (max(round(bw * width / WINDOW_W), 1), max(round(bh * height / WINDOW_H), 1))
            patch = cv2.resize(canvas, size, interpolation=cv2.INTER_AREA)
            if len(self._text) > 512:
                self._text.clear()
            self._text[key] = cv2.subtract(patch, np.full_like(patch, OFFSET))
        return self._text[key]
