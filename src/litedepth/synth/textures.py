"""Procedural textures of the synthetic rooms: the albedo of each material kind and of wall decals.

Patterns are functions of surface coordinates in metres and of the scene's value-noise lattice,
so a texture is fixed by the scene's seed.
"""

from __future__ import annotations

import numpy as np

from .furniture import Material
from .scene import Decal


def noise(lat: np.ndarray, u, v):
    """Smooth value noise in [0, 1] on a wrapped lattice, one lattice cell per unit of u, v."""
    n = lat.shape[0]
    fu, fv = np.floor(u), np.floor(v)
    au, av = u - fu, v - fv
    au, av = au * au * (3 - 2 * au), av * av * (3 - 2 * av)
    i0, j0 = fu.astype(np.int64) % n, fv.astype(np.int64) % n
    i1, j1 = (i0 + 1) % n, (j0 + 1) % n
    top = lat[i0, j0] * (1 - av) + lat[i0, j1] * av
    bot = lat[i1, j0] * (1 - av) + lat[i1, j1] * av
    return top * (1 - au) + bot * au


def albedo(m: Material, lat: np.ndarray, u, v):
    """(M, 3) albedo of material ``m`` at surface coordinates ``u, v`` (m)."""
    u = u + m.offset
    if m.kind == "plain":
        return np.broadcast_to(m.color, (len(u), 3))
    if m.kind == "noise":
        k = 0.65 * noise(lat, u / m.scale, v / m.scale) + 0.35 * noise(lat, u / m.scale * 4.1, v / m.scale * 4.1)
        mix = (1.0 + m.contrast * (k - 0.5) * 0.6)[:, None]
        return np.clip(m.color * mix + m.color2 * (mix - 1.0) * 0.3, 0, 1)
    if m.kind == "fabric":
        w = 0.5 + 0.5 * np.sin(u / m.scale * 6.283) * np.sin(v / m.scale * 6.283)
        w = w * 0.6 + 0.4 * noise(lat, u * 8, v * 8)
        return m.color + (m.color2 - m.color) * w[:, None]
    if m.kind in ("wood", "planks"):
        if m.kind == "planks":
            row = np.floor(v / m.scale)
            u = u + noise(lat, row * 7.3, row * 1.9) * 40.0
            v = v + row * 3.7
            edge = (v - np.floor(v / m.scale) * m.scale) < 0.008
        g = np.sin((v * 40.0 + 3.0 * noise(lat, u * 2.0, v * 6.0)) * 6.283 / (m.scale * 40.0 / 2.0))
        k = (0.5 + 0.5 * g) ** 3 * 0.8 + 0.2 * noise(lat, u * 12.0, v * 30.0)
        out = m.color + (m.color2 - m.color) * k[:, None]
        if m.kind == "planks":
            out = np.where(edge[:, None], m.color2 * 0.6, out)
        return out
    if m.kind == "tiles":
        iu, iv = np.floor(u / m.scale), np.floor(v / m.scale)
        fu, fv = u / m.scale - iu, v / m.scale - iv
        grout = (np.minimum(fu, 1 - fu) < 0.03) | (np.minimum(fv, 1 - fv) < 0.03)
        jitter = 0.85 + 0.25 * noise(lat, iu * 3.1 + 0.5, iv * 5.3 + 0.5)
        out = m.color * jitter[:, None] * (0.95 + 0.1 * noise(lat, u * 10, v * 10))[:, None]
        return np.where(grout[:, None], m.color2, out)
    raise ValueError(f"unknown material kind {m.kind!r}")


def decal_albedo(dc: Decal, lat, u, v):
    """(M, 3) albedo and (M,) emission of a decal at wall coordinates (m); ``u, v`` relative to its corner."""
    w, h = dc.u[1] - dc.u[0], dc.v[1] - dc.v[0]
    su, sv = u / w, v / h
    border = (np.minimum(u, w - u) < 0.04) | (np.minimum(v, h - v) < 0.04)
    emit = np.zeros(len(u), np.float32)
    if dc.kind == "window":
        bars = (np.abs(su - 0.5) < 0.02) | (np.abs(sv - 0.55) < 0.02) | border
        sky = dc.colors[0] * 0.2 + 0.8 * np.array([0.85, 0.9, 1.0], np.float32)
        out = np.where(bars[:, None], np.float32(0.9), sky * (0.9 + 0.1 * sv)[:, None])
        emit = np.where(bars, 0.0, 1.3).astype(np.float32)
        return out, emit
    if dc.kind == "door":
        handle = ((su - 0.85) ** 2 * w * w + (v - 1.0) ** 2) < 0.03**2
        panel = (np.abs(su - 0.5) < 0.35) & (np.abs(sv - 0.5) < 0.42) & ~(np.abs(sv - 0.5) < 0.04)
        base = dc.colors[1] * 0.5 + 0.25
        out = np.where(panel[:, None], base * 0.85, base)
        out = np.where(handle[:, None], np.float32(0.8), out)
        return np.where(border[:, None], base * 0.7, out), emit
    # picture: a painted landscape or abstract blobs in a dark frame
    horizon = 0.35 + 0.3 * dc.colors[3, 0]
    hills = horizon + 0.12 * np.sin(su * 9.0 + dc.colors[3, 1] * 6) + 0.1 * (noise(lat, su * 5 + 7, 3.3) - 0.5)
    out = np.where((sv < hills)[:, None], dc.colors[1] * (0.6 + 0.4 * sv)[:, None], dc.colors[0])
    blob = ((su - 0.3 - 0.4 * dc.colors[2, 0]) ** 2 + (sv - 0.7) ** 2) < (0.05 + 0.1 * dc.colors[2, 1]) ** 2
    out = np.where(blob[:, None], dc.colors[2], out)
    frame = (np.minimum(u, w - u) < 0.03) | (np.minimum(v, h - v) < 0.03)
    return np.where(frame[:, None], dc.colors[3] * 0.3, out), emit
