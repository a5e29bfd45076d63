"""Classical lung segmentation of a chest CT in Hounsfield units (CPU, seconds).

Steps (:func:`segment_lungs`):

1. **Body**: voxels above ``body_threshold_hu`` (-500), largest 3-D component,
   holes filled slice by slice (used for the midline and to bound the
   closing below).
2. **Air-like parenchyma**: voxels below ``lung_threshold_hu`` (-320), minus
   the air outside the patient: 3-D components touching the image's in-plane
   border that are pure air (mean < -940 HU, or more than a quarter of the
   voxels below -950 HU), which also removes the gap between the back and
   the table.  Border-touching components as dense as
   lung are kept (a cropped field of view).
3. **Airways**: the trachea is found in the upper slices as a small, round,
   isolated, very dark (< -900 HU) component near the body's midline and
   followed downwards slice by slice through the carina into both main
   bronchi; a branch stops where its area explodes (it has entered the lung).
   The tracked airway, widened by one pixel for the wall, is removed.
4. **Components**: 3-D connected components; those of at least
   ``min_component_fraction`` of the largest are kept.
5. **Left/right**: a component lying on both sides of the body's midline is
   two touching lungs: it is eroded in-plane until it splits into two parts,
   one per side, which are grown back over the component (nearest part).
   If erosion never splits it, the midline cuts it.  Label 1 is the patient's
   right lung, 2 the left (in the canonical RAS+ array a higher first index is
   further to the patient's right; see :mod:`covidbank.severity.io`).
6. **Dense lesions kept**: each lung is closed in-plane with a disk of
   ``closing_mm`` (10 mm) and its holes are filled slice by slice, so
   consolidations inside the lung and bites narrower than the disk stay in
   the lung mask; wider bites of consolidation against the chest wall are
   restored from each slice's convex hull on the lung's lateral side (only
   bites smaller than a quarter of the lung's area in that slice, so the
   crescent of a lung base around the diaphragm dome is left alone).

Large volumes are segmented with a 2x in-plane block average (working
resolution) and the mask border is then refined at full resolution with the
same threshold, which keeps a 512x512x300 CT within seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..optional import require
from .io import CTVolume

ndi = require("scipy.ndimage", purpose="CT severity")

__all__ = ["LungParams", "LungMasks", "segment_lungs", "RIGHT", "LEFT"]

RIGHT = 1
LEFT = 2

# in-plane structuring elements for arrays ordered (z, y, x)
_CROSS = np.zeros((3, 3, 3), bool)
_CROSS[1] = ndi.generate_binary_structure(2, 1)
_SQUARE = np.zeros((3, 3, 3), bool)
_SQUARE[1] = True
_CONN6 = ndi.generate_binary_structure(3, 1)


@dataclass
class LungParams:
    """Thresholds and sizes of the lung segmentation (HU and mm)."""

    body_threshold_hu: float = -500.0
    lung_threshold_hu: float = -320.0
    airway_threshold_hu: float = -900.0
    closing_mm: float = 10.0
    #: add lateral concavities of each lung's slice (convex hull minus lung, on
    #: the side away from the midline) when smaller than ``max_bite_fraction``
    #: of the lung's area in that slice: consolidation against the chest wall
    lateral_hull: bool = True
    max_bite_fraction: float = 0.25
    min_component_fraction: float = 0.1
    #: components smaller than this (mL) or thinner than ``min_thickness_mm``
    #: in every slice are not lung (table gaps, bowel gas bits)
    min_component_ml: float = 0.2
    min_thickness_mm: float = 4.0
    #: components whose median is below this are gas (stomach, bowel, airway), not lung
    gas_median_hu: float = -940.0
    trachea_area_mm2: tuple[float, float] = (40.0, 700.0)
    max_airway_length_mm: float = 220.0
    #: in-plane downsampling factor of the working resolution; None = automatic
    #: (2 when the volume has more than ``downsample_above`` voxels)
    downsample: int | None = None
    downsample_above: int = 24_000_000


@dataclass
class LungMasks:
    """Result of :func:`segment_lungs`.

    Attributes
    ----------
    labels : numpy.ndarray
        uint8 ``(X, Y, Z)`` in the CT's canonical orientation: 0 background,
        1 right lung, 2 left lung.
    airway : numpy.ndarray or None
        bool, the trachea and main bronchi removed (None when the volume was
        segmented at a reduced working resolution).
    body : numpy.ndarray or None
        bool, the body mask (None likewise).
    info : dict
        Working resolution, whether the lungs had to be split, timings, ...
    """

    labels: np.ndarray
    airway: np.ndarray | None
    body: np.ndarray | None
    info: dict = field(default_factory=dict)

    @property
    def lungs(self) -> np.ndarray:
        return self.labels > 0

    def counts(self) -> dict[str, int]:
        """Voxel counts: ``right``, ``left``, ``background``."""
        bc = np.bincount(self.labels.ravel(), minlength=3)
        return {"right": int(bc[RIGHT]), "left": int(bc[LEFT]), "background": int(bc[0])}


# --------------------------------------------------------------------------- helpers


def _dilate(m: np.ndarray, n: int) -> np.ndarray:
    """In-plane dilation by ``n`` pixels, octagon-like (cross then square steps)."""
    if n <= 0:
        return m
    a, b = (n + 1) // 2, n // 2
    m = ndi.binary_dilation(m, structure=_CROSS, iterations=a)
    return ndi.binary_dilation(m, structure=_SQUARE, iterations=b) if b else m


def _erode(m: np.ndarray, n: int) -> np.ndarray:
    """In-plane erosion by ``n`` pixels (same octagon as :func:`_dilate`)."""
    if n <= 0:
        return m
    a, b = (n + 1) // 2, n // 2
    m = ndi.binary_erosion(m, structure=_CROSS, iterations=a, border_value=0)
    return ndi.binary_erosion(m, structure=_SQUARE, iterations=b, border_value=0) if b else m


def _fill_slices(m: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice (in-plane connectivity only)."""
    return ndi.binary_fill_holes(m, structure=_CROSS)


def _bbox(mask: np.ndarray, margin: int, inplane_only: bool = True) -> tuple[slice, ...]:
    """Bounding box of a non-empty mask (axis projections; no coordinate lists)."""
    sl = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        ix = np.flatnonzero(mask.any(axis=other))
        mg = 0 if (ax == 0 and inplane_only) else margin
        sl.append(slice(max(int(ix[0]) - mg, 0), min(int(ix[-1]) + mg + 1, mask.shape[ax])))
    return tuple(sl)


def _block_mean_xy(h: np.ndarray, f: int) -> np.ndarray:
    """Mean over f x f blocks of the first two axes of an (X, Y, Z) array (float32)."""
    x, y, _ = h.shape
    xx, yy = (x // f) * f, (y // f) * f
    acc = np.zeros((xx // f, yy // f, h.shape[2]), np.float32)
    for i in range(f):
        for j in range(f):
            acc += h[i:xx:f, j:yy:f, :]
    acc /= float(f * f)
    return acc


def _upsample_xy(a: np.ndarray, f: int, shape: tuple[int, int, int]) -> np.ndarray:
    """Nearest upsampling of the first two axes back to ``shape`` (edge rows repeated)."""
    u = np.repeat(np.repeat(a, f, axis=0), f, axis=1)
    if u.shape == tuple(shape):
        return u
    out = np.empty(shape, dtype=a.dtype)
    out[: u.shape[0], : u.shape[1]] = u[: shape[0], : shape[1]]
    if u.shape[0] < shape[0]:
        out[u.shape[0] :, : u.shape[1]] = u[-1:, : shape[1]]
    if u.shape[1] < shape[1]:
        out[:, u.shape[1] :] = out[:, u.shape[1] - 1 : u.shape[1]]
    return out


def _body_mask(h: np.ndarray, thr: float) -> np.ndarray:
    """Largest 3-D component above ``thr``, holes filled slice by slice."""
    body = h > thr
    lab, n = ndi.label(body, structure=_CONN6)
    if n == 0:
        return body
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return _fill_slices(lab == int(np.argmax(sizes)))


def _slice_midline(body: np.ndarray) -> np.ndarray:
    """x of the body's centre in every slice (z, y, x arrays)."""
    zs = body.shape[0]
    cols = body.sum(axis=1)  # (z, x)
    xs = np.arange(body.shape[2], dtype=float)
    tot = cols.sum(axis=1)
    mid = np.where(tot > 0, (cols * xs[None, :]).sum(axis=1) / np.maximum(tot, 1), body.shape[2] / 2.0)
    return mid.reshape(zs)


# --------------------------------------------------------------------------- airways


def _track_airways(
    h: np.ndarray, cand: np.ndarray, body: np.ndarray, spacing: tuple[float, float, float], p: LungParams
) -> np.ndarray:
    """Trachea and main bronchi as a bool mask (z, y, x); empty if not found."""
    sz, sy, sx = spacing
    px = sy * sx
    zn = h.shape[0]
    airway = np.zeros(h.shape, bool)
    if zn < 3:
        return airway
    dark = (h < p.airway_threshold_hu) & cand
    amin, amax = p.trachea_area_mm2[0] / px, p.trachea_area_mm2[1] / px
    seed = None
    # look from the top (highest z = superior) down through the upper half
    for z in range(zn - 1, zn // 2 - 1, -1):
        if not dark[z].any():
            continue
        lab, n = ndi.label(dark[z])
        clab, _ = ndi.label(cand[z])
        bx = np.nonzero(body[z].any(axis=0))[0]
        if bx.size == 0:
            continue
        bmid, bw = (bx[0] + bx[-1]) / 2.0, float(bx[-1] - bx[0] + 1)
        areas = np.bincount(lab.ravel())
        careas = np.bincount(clab.ravel())
        objs = ndi.find_objects(lab)
        for i, o in enumerate(objs, start=1):
            a = areas[i]
            if not (amin <= a <= amax) or o is None:
                continue
            hgt, wid = o[0].stop - o[0].start, o[1].stop - o[1].start
            if a / float(hgt * wid) < 0.45 or max(hgt * sy, wid * sx) > 3.0 * min(hgt * sy, wid * sx):
                continue
            cx = (o[1].start + o[1].stop - 1) / 2.0
            if abs(cx - bmid) > 0.15 * bw:
                continue
            comp = lab == i
            cid = np.bincount(clab[comp]).argmax()
            if careas[cid] > 1.6 * a + 20 / px:  # part of a larger air region (lung apex): not an isolated tube
                continue
            seed = (z, comp)
            break
        if seed is not None:
            break
    if seed is None:
        return airway
    z0, comp = seed
    airway[z0] = comp
    branches = [(comp, float(comp.sum()))]
    max_slices = int(p.max_airway_length_mm / max(sz, 0.1))
    grow_extra = 40.0 / px
    for z in range(z0 - 1, max(z0 - max_slices, -1), -1):
        if not branches:
            break
        lab, n = ndi.label(dark[z])
        if n == 0:
            break
        areas = np.bincount(lab.ravel())
        nxt = []
        for prev, parea in branches:
            grown = ndi.binary_dilation(prev, iterations=2)
            ids = np.unique(lab[grown])
            ids = ids[ids > 0]
            if ids.size == 0:
                continue
            total = float(areas[ids].sum())
            if total > 2.0 * parea + grow_extra:
                continue  # leaked into the lung: this branch ends here
            for i in ids:
                c = lab == i
                nxt.append((c, float(areas[i])))
                airway[z] |= c
        # a component reached by two branches is kept once
        seen: dict[int, tuple] = {}
        for c, a in nxt:
            key = int(np.flatnonzero(c)[0])
            seen[key] = (c, a)
        branches = list(seen.values())
        if len(branches) > 8:
            break
    return airway


def _lateral_bites(m: np.ndarray, side: int, max_fraction: float) -> np.ndarray:
    """Per slice: parts of the convex hull missing from the lung on its lateral side.

    A dense consolidation against the chest wall leaves a bite in the air-like
    mask that is too wide for the closing; the convex hull restores it.  Only
    the half of the slice away from the midline is used (the medial side is
    concave by anatomy: heart, hila) and a bite is kept only if smaller than
    ``max_fraction`` of the lung's area in the slice (a crescent around the
    diaphragm dome is not a bite).
    """
    from scipy.spatial import ConvexHull, QhullError
    from skimage.draw import polygon

    out = np.zeros_like(m)
    xs = np.arange(m.shape[2])
    areas = m.sum(axis=(1, 2))
    edges = m & ~ndi.binary_erosion(m, structure=_CROSS)
    for z in np.flatnonzero(areas >= 20):
        s2 = m[z]
        area = int(areas[z])
        # hull of the boundary pixels, rasterized by scanline (fast)
        yy, xx = np.nonzero(edges[z])
        try:
            hv = ConvexHull(np.column_stack([yy, xx])).vertices
        except (QhullError, ValueError):
            continue
        rr, cc = polygon(yy[hv], xx[hv], shape=s2.shape)
        add = np.zeros_like(s2)
        add[rr, cc] = True
        add &= ~s2
        if not add.any():
            continue
        colsum = s2.sum(axis=0)
        cx = float((colsum * xs).sum() / area)
        lateral = xs > cx if side == RIGHT else xs < cx
        add &= lateral[None, :]
        n_add = int(add.sum())
        if n_add == 0:
            continue
        if n_add <= max_fraction * area:
            out[z] = add  # every bite is small enough: no need to label
            continue
        lab, n = ndi.label(add)
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())
        ok = sizes <= max_fraction * area
        ok[0] = False
        out[z] = ok[lab]
    return out


# --------------------------------------------------------------------------- left / right


def _split_component(comp: np.ndarray, mid: np.ndarray, max_iter: int) -> np.ndarray | None:
    """Split touching lungs by in-plane erosion.

    Returns a label map with :data:`LEFT` on the lower-x side (the patient's
    left in RAS+) and :data:`RIGHT` on the higher-x side, or None.
    """
    from skimage.segmentation import expand_labels

    m = comp
    for it in range(1, max_iter + 1):
        m = ndi.binary_erosion(m, structure=_CROSS if it % 2 else _SQUARE, border_value=0)
        if not m.any():
            return None
        lab, n = ndi.label(m, structure=_CONN6)
        if n < 2:
            continue
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        order = np.argsort(sizes)[::-1]
        a, b = int(order[0]), int(order[1])
        if sizes[b] < 0.1 * sizes[a]:
            continue
        sides = []
        for k in (a, b):
            z, _, x = np.nonzero(lab == k)
            sides.append(float(np.mean(x - mid[z])))
        if np.sign(sides[0]) == np.sign(sides[1]):
            continue
        markers = np.zeros(comp.shape, np.int32)
        low, high = (a, b) if sides[0] < sides[1] else (b, a)
        markers[lab == low] = LEFT
        markers[lab == high] = RIGHT
        grown = expand_labels(markers, distance=it + 2)
        out = np.where(comp, grown, 0).astype(np.uint8)
        # voxels not reached (far from both parts) go by the midline
        rest = comp & (out == 0)
        if rest.any():
            z, y, x = np.nonzero(rest)
            out[z, y, x] = np.where(x < mid[z], LEFT, RIGHT)
        return out
    return None


# --------------------------------------------------------------------------- main


def segment_lungs(ct: CTVolume, params: LungParams | None = None) -> LungMasks:
    """Segment the right and left lung of a CT in Hounsfield units.

    Parameters
    ----------
    ct : CTVolume
        Chest CT (volume, slab or single slice) in HU.
    params : LungParams, optional
        Thresholds and sizes; defaults suit standard chest CT.

    Returns
    -------
    LungMasks
        Labels 1 (right lung) and 2 (left lung), the airway removed and the body.

    Raises
    ------
    NotHUError
        Input not in Hounsfield units.
    Notes
    -----
    When no component qualifies as lung (e.g. an abdominal slice), the labels
    are empty and ``info["no_lungs"]`` is True; :func:`~covidbank.severity.assess`
    then flags ``no_lungs_found`` and gives no grade.
    """
    import time

    p = params or LungParams()
    t0 = time.perf_counter()
    data = ct.hu  # (X, Y, Z)
    sxx, syy, szz = ct.spacing
    nvox = data.size
    f = p.downsample if p.downsample is not None else (2 if nvox > p.downsample_above and min(data.shape[:2]) >= 256 else 1)
    if f > 1:
        work = _block_mean_xy(data, f)
        spacing = (szz, syy * f, sxx * f)
    else:
        work = data
        spacing = (szz, syy, sxx)
    h = np.ascontiguousarray(np.transpose(work, (2, 1, 0)))  # (z, y, x) working grid
    del work
    info: dict = {"working_factor": f, "working_spacing_mm": [round(s, 3) for s in spacing]}

    if h.shape[1] >= 256 and h.shape[2] >= 256:
        # the body only gives the midline and bounds the closing: a coarse one will do
        coarse = _body_mask(h[:, ::2, ::2], p.body_threshold_hu)
        body = np.repeat(np.repeat(coarse, 2, axis=1), 2, axis=2)[:, : h.shape[1], : h.shape[2]]
        if body.shape != h.shape:
            body = np.pad(body, [(0, 0), (0, h.shape[1] - body.shape[1]), (0, h.shape[2] - body.shape[2])], mode="edge")
    else:
        body = _body_mask(h, p.body_threshold_hu)
    air = h < p.lung_threshold_hu
    # Air connected in 3-D to the image's in-plane border and pure (mean below
    # gas_median_hu) is outside the patient, including the gap between back
    # and table.  Border-touching air with the density of lung parenchyma is
    # kept: lungs cut by a cropped field of view.
    olab, _ = ndi.label(air, structure=_CONN6)
    border_ids = np.unique(np.concatenate([olab[:, 0, :].ravel(), olab[:, -1, :].ravel(), olab[:, :, 0].ravel(), olab[:, :, -1].ravel()]))
    border_ids = border_ids[border_ids > 0]
    cand = air
    if border_ids.size:
        flat = olab.ravel()
        cnt = np.bincount(flat)
        mean = np.bincount(flat, weights=h.ravel().astype(np.float64)) / np.maximum(cnt, 1)
        pure = np.bincount(flat, weights=(h.ravel() < -950).astype(np.float64)) / np.maximum(cnt, 1)
        outside = border_ids[(mean[border_ids] < p.gas_median_hu) | (pure[border_ids] > 0.25)]
        if outside.size:
            cand = air & ~np.isin(olab, outside)
        info["cropped_lung_candidates"] = int(border_ids.size - outside.size)
    del olab
    if not cand.any():
        info["no_lungs"] = True
        info["seconds"] = round(time.perf_counter() - t0, 3)
        return LungMasks(labels=np.zeros(ct.data.shape, np.uint8), airway=None, body=None, info=info)

    airway = _track_airways(h, cand, body, spacing, p)
    if airway.any():
        cand &= ~_dilate(airway, 1)
    info["airway_ml"] = round(float(airway.sum()) * spacing[0] * spacing[1] * spacing[2] / 1000.0, 2)

    lab, n = ndi.label(cand, structure=_CONN6)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    vox_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    sizes[sizes * vox_ml < p.min_component_ml] = 0
    medians = {}
    objs = ndi.find_objects(lab)
    thin = 0
    r_thin = max(1, int(round(p.min_thickness_mm / 2.0 / min(spacing[1], spacing[2]))))
    if sizes.max() > 0:
        for i in np.flatnonzero(sizes >= 0.02 * sizes.max()):
            sub = lab[objs[i - 1]] == i
            medians[int(i)] = float(np.median(h[objs[i - 1]][sub]))
            if not ndi.binary_erosion(sub, structure=_CROSS, iterations=r_thin, border_value=0).any():
                sizes[i] = 0  # thinner than min_thickness_mm everywhere: not a lung
                thin += 1
    for i, med in medians.items():
        if med < p.gas_median_hu:
            sizes[i] = 0  # pure gas: stomach, bowel or a remaining airway
    info["components_rejected_as_gas"] = int(sum(1 for m in medians.values() if m < p.gas_median_hu))
    info["components_rejected_as_thin"] = thin
    if sizes.max() == 0:
        info["no_lungs"] = True
        info["seconds"] = round(time.perf_counter() - t0, 3)
        empty = np.zeros(ct.data.shape, np.uint8)
        return LungMasks(labels=empty, airway=None, body=None, info=info)
    keep_ids = np.flatnonzero(sizes >= p.min_component_fraction * sizes.max())
    mid = _slice_midline(body)
    labels = np.zeros(h.shape, np.uint8)
    split_done = False
    max_iter = max(3, int(round(15.0 / spacing[2])))
    for i in keep_ids:
        sl = objs[i - 1]
        sub = lab[sl] == i
        zz = np.arange(sl[0].start, sl[0].stop)
        xs = np.arange(sl[2].start, sl[2].stop)
        midsub = mid[zz]
        # canonical RAS+: x grows toward the patient's right
        right_side = sub & (xs[None, None, :] >= midsub[:, None, None])
        frac_right = right_side.sum() / float(sub.sum())
        if 0.15 < frac_right < 0.85:
            part = _split_component(sub, midsub - sl[2].start, max_iter)
            if part is None:
                part = np.where(sub, np.where(right_side, RIGHT, LEFT), 0).astype(np.uint8)
                info["split"] = "midline"
            else:
                info["split"] = "erosion"
            split_done = True
            view = labels[sl]
            view[part > 0] = part[part > 0]
        else:
            labels[sl][sub] = RIGHT if frac_right >= 0.5 else LEFT
    info["lungs_touching"] = split_done

    # close each lung in-plane and fill its holes, so dense lesions stay inside
    r = max(1, int(round(p.closing_mm / min(spacing[1], spacing[2]))))
    closed = labels.copy()
    for k in (RIGHT, LEFT):
        m = labels == k
        if not m.any():
            continue
        sl = _bbox(m, r + 2)
        sub = m[sl]
        c = _erode(_dilate(sub, r), r)
        inside = body[sl] | sub
        c = _fill_slices(c | sub) & inside
        if p.lateral_hull:
            c |= _lateral_bites(c, k, p.max_bite_fraction) & inside
        view = closed[sl]
        view[(view == 0) & c] = k
    labels = closed

    back = (2, 1, 0)
    if f > 1:
        # refine the border at full resolution: one upsampled code array
        # (bits 0-1 label incl. one-pixel growth, bit 2 core, bit 3 band)
        any_lo = labels > 0
        code = np.zeros(labels.shape, np.uint8)
        if any_lo.any():
            bb = _bbox(any_lo, 2)
            lb, ab = labels[bb], any_lo[bb]
            c = np.where(ab, lb, ndi.grey_dilation(lb, footprint=_CROSS)).astype(np.uint8)
            c |= _erode(ab, 1).astype(np.uint8) << 2
            c |= _dilate(ab, 1).astype(np.uint8) << 3
            code[bb] = c
        code_full = _upsample_xy(np.ascontiguousarray(np.transpose(code, back)), f, data.shape)
        lung = (code_full & 4).astype(bool)
        lung |= ((code_full & 8) > 0) & (data < p.lung_threshold_hu)
        labels_out = np.where(lung, code_full & 3, 0).astype(np.uint8)
        info["seconds"] = round(time.perf_counter() - t0, 3)
        return LungMasks(labels=labels_out, airway=None, body=None, info=info)
    info["seconds"] = round(time.perf_counter() - t0, 3)
    return LungMasks(
        labels=np.transpose(labels, back),
        airway=np.transpose(airway, back),
        body=np.transpose(body, back),
        info=info,
    )
