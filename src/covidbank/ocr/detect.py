"""Find text burned into a radiograph's pixels: candidate lines by morphology, read by Tesseract.

Tesseract alone on a whole chest X-ray is slow (over a second for 2k x 2k
pixels, per polarity) and reads small or faint overlay text badly.  The
detector therefore works in two steps:

1. **Candidates.**  The image (8 or 16 bits) is put on a common 0-255 scale by
   a percentile window *without clipping* (text drawn at the maximum over a
   bright shoulder keeps its contrast), and both morphological top-hats are
   taken (bright strokes: image minus its opening; dark strokes: closing minus
   image), so both polarities are found.  Thresholded top-hat pixels form
   components; the character-sized ones (5-72 px high, letter-like fill and
   aspect) are joined along the line into text-line candidates.
2. **Reading.**  Each candidate is cut out with a margin, turned into dark text
   on white (inverted for bright text), stretched to its own contrast (the
   local window that makes faint text legible), scaled so the text is about 30
   px high (small text upscaled), and all candidates of the image are stacked
   into one mosaic that Tesseract reads in a single call.  Word boxes are
   mapped back to the image's coordinates.

Written by hand because no maintained library does text detection in
radiographs offline: Presidio's DICOM redactor runs Tesseract on the whole
image (see ``bench/burned_in.py``), and the deep-learning text detectors need
downloaded weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engine import DEFAULT_LANG, Word, ocr_words

__all__ = ["TextLine", "candidate_lines", "detect_text", "extend_along_row", "window_to_float", "window_to_uint8"]

#: Top-hat size: larger than the stroke width of 40 px bold text.
_TOPHAT = 13
#: Character components kept: height range in pixels.
_MIN_H, _MAX_H = 5, 72
#: Median edge steepness (largest step between neighbours / top-hat peak) below which a line is anatomy.
_MIN_SHARP = 0.4
#: Height the text of a candidate is scaled to for Tesseract (pixels).
_TARGET_H = 30.0


@dataclass
class TextLine:
    """A text-line candidate and what Tesseract read in it.

    ``box`` is ``(x, y, w, h)`` in image pixels (the ink of the candidate);
    ``words`` are in image coordinates; ``text`` joins them (memory only:
    never stored); ``polarity`` is ``bright`` (text lighter than its
    surroundings) or ``dark``; ``score`` rates how text-like the candidate is;
    ``height`` is the median height of its letters (0 when not known).
    """

    box: tuple[int, int, int, int]
    polarity: str
    score: float
    words: list[Word] = field(default_factory=list)
    height: int = 0

    @property
    def text(self) -> str:
        return " ".join(w.text for w in sorted(self.words, key=lambda w: w.x))

    @property
    def conf(self) -> float:
        return max((w.conf for w in self.words), default=0.0)


def window_to_float(img: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    """The image on a 0-255 scale by a percentile window, *not clipped* (float32).

    The 0.5-99.5 percentile range of the image maps to 0-255; values outside
    keep their distance (a 16-bit overlay at 65535 over a region at 60000 keeps
    its contrast).  Percentiles are taken on a subsample (fast on 2k x 2k).
    """
    a = np.asarray(img)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {a.shape}")
    step = max(1, int(np.sqrt(a.size / 250_000)))
    lo, hi = np.percentile(a[::step, ::step], [lo_pct, hi_pct])
    if hi <= lo:
        lo, hi = float(a.min()), float(a.max())
        if hi <= lo:
            hi = lo + 1.0
    return ((a.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo)))


def window_to_uint8(img: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    """The percentile window of :func:`window_to_float`, clipped to 8 bits (for display and review)."""
    return np.clip(window_to_float(img, lo_pct, hi_pct), 0, 255).astype(np.uint8)


def _threshold(th: np.ndarray) -> float:
    """Top-hat threshold: well above the image's texture and noise (robust), never below 12 grey levels."""
    step = max(1, int(np.sqrt(th.size / 60_000)))
    s = th[::step, ::step]
    med = float(np.median(s))
    mad = float(np.median(np.abs(s - med))) + 1e-3
    return max(12.0, med + 8.0 * 1.4826 * mad)


#: Side of the tiles over which the top-hat threshold is also taken locally (pixels of the searched image), and
#: how far below the image's threshold a quiet tile's may go (a fraction of it).
_TILE = 64
_LOCAL_FLOOR = 0.7
#: A busy tile (three quarters of its texture above the image's threshold) takes its median + this many times the
#: spread from its lower quartile to its median.
_BUSY_SPREAD = 3.0


def _local_threshold(th: np.ndarray, t: float) -> np.ndarray | float:
    """The top-hat threshold ``t`` of the whole image (:func:`_threshold`) lowered tile by tile where a tile's
    own texture is quieter: its median + 8 robust standard deviations, never below 12 grey levels nor
    :data:`_LOCAL_FLOOR` x ``t``; raised in busy tiles (below).  A scalar when every tile keeps ``t``, else an
    array of ``th``'s shape.

    One threshold for the whole image is set by its busiest texture: faint small text over a quiet part (a
    black border, a dark corner) of an otherwise textured image stayed below it (three of five strings of
    8-9 px without a candidate on a fresh tune seed; the floor keeps the extra candidates to about 3%).

    It is *raised* in a busy tile, one whose lower quartile lies above ``t`` (the texture of an edge-enhanced
    film over a black border that set ``t`` at its floor), to the tile's median + :data:`_BUSY_SPREAD` x the
    spread from its lower quartile to its median: there the letters and the texture around them were one
    blob above ``t``, too large to be letters, and white 16-24 px text over the lungs had no candidate (the
    misses of two tune seeds, both over one real Cohen film).  The lower half of the tile, not its upper
    quartile: large bold text covering much of a tile made a first version (median above ``t``, spread to
    the upper quartile) lose a 24 px date on another tune seed.
    """
    H, W = th.shape
    ny, nx = H // _TILE, W // _TILE
    if ny < 2 or nx < 2:
        return t
    a = th[:ny * _TILE, :nx * _TILE:2].reshape(ny, _TILE, nx, _TILE // 2)[:, ::2].transpose(0, 2, 1, 3)
    a = a.reshape(ny, nx, -1)
    med = np.median(a, axis=2)
    mad = np.median(np.abs(a - med[..., None]), axis=2) + 1e-3
    loc = np.minimum(t, np.maximum(max(12.0, _LOCAL_FLOOR * t), med + 8.0 * 1.4826 * mad))
    q1 = np.percentile(a, 25, axis=2)
    busy = q1 > t
    if busy.any():
        loc[busy] = np.maximum(t, med[busy] + _BUSY_SPREAD * (med[busy] - q1[busy]))
    if (loc == t).all():
        return t
    # tiles at the image's right and bottom edges take their neighbours' threshold
    ry = np.minimum(np.arange(H) // _TILE, ny - 1)
    rx = np.minimum(np.arange(W) // _TILE, nx - 1)
    return loc[ry][:, rx]


def _ndimage():
    from ..optional import require

    return require("scipy.ndimage", extra="ocr", purpose="burned-in text detection")


def _running(a: np.ndarray, k: int, axis: int, op) -> np.ndarray:
    """``op`` (``np.minimum`` or ``np.maximum``) over windows of ``k`` along ``axis``, centred as
    ``scipy.ndimage.minimum_filter1d`` centres them (origin 0); the window is cut at the edges.

    The result equals scipy's in every border mode that repeats the edge's own values (``reflect``,
    ``nearest``, ``mirror``: the min or max of a window is unchanged by values it already holds).  Written
    by hand because scipy's 1-D min/max filter costs about 28 ns a pixel on float32: windows doubled in
    length by whole-array ``op`` (of 1, 2, 4 ... pixels) and one last ``op`` of two overlapping windows
    take about five times less on the 1-megapixel images the candidate search filters.
    """
    if k <= 1:
        return a
    n = a.shape[axis]
    before = k // 2
    info = np.finfo(a.dtype) if np.issubdtype(a.dtype, np.floating) else np.iinfo(a.dtype)
    fill = info.max if op is np.minimum else info.min
    # the padded array built by hand: np.pad's own overhead (tens of microseconds) was most of the time of the
    # many small crops the rendering filters
    shape = list(a.shape)
    shape[axis] = n + k - 1
    m = np.empty(shape, a.dtype)

    def part(x, start, size):
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(start, start + size)
        return x[tuple(sl)]

    part(m, 0, before)[...] = fill
    part(m, before + n, k - 1 - before)[...] = fill
    part(m, before, n)[...] = a
    length = 1
    while 2 * length <= k:
        size = m.shape[axis] - length
        m = op(part(m, 0, size), part(m, length, size))
        length *= 2
    if length == k:
        return np.ascontiguousarray(part(m, 0, n))
    return op(part(m, 0, n), part(m, k - length, n))


def _minmax(a: np.ndarray, k: int, op) -> np.ndarray:
    """``op`` over ``k x k`` squares of a 2-D array (separable): ``scipy.ndimage.minimum_filter`` /
    ``maximum_filter`` with ``size=k``, by :func:`_running`."""
    return _running(_running(a, k, 0, op), k, 1, op)


def tophat(a: np.ndarray, k: int, polarity: str) -> np.ndarray:
    """Morphological top-hat of a 2-D float image with a ``k x k`` square: strokes of ``polarity``
    narrower than ``k`` stand out of their background.

    ``bright``: the image minus its opening (white top-hat); ``dark``: its closing minus the image (black
    top-hat).  ``both``: the larger of the two at every pixel.
    """
    if polarity == "bright":
        return a - _minmax(_minmax(a, k, np.minimum), k, np.maximum)
    if polarity == "dark":
        return _minmax(_minmax(a, k, np.maximum), k, np.minimum) - a
    if polarity == "both":
        return np.maximum(tophat(a, k, "bright"), tophat(a, k, "dark"))
    raise ValueError(f"polarity must be bright, dark or both, not {polarity!r}")


def _pool(g: np.ndarray, f: int, polarity: str) -> np.ndarray:
    """Downsample by ``f`` keeping thin strokes: max of each block for bright text, min for dark."""
    H, W = (g.shape[0] // f) * f, (g.shape[1] // f) * f
    op = np.maximum if polarity == "bright" else np.minimum
    out = g[0:H:f, 0:W:f].copy()
    for dy in range(f):
        for dx in range(f):
            if dy or dx:
                op(out, g[dy:H:f, dx:W:f], out=out)
    return out


def candidate_lines(g: np.ndarray, polarity: str) -> list[tuple[tuple[int, int, int, int], float, int]]:
    """Text-line candidates of one polarity in a windowed image ``g`` (float, 0-255 scale).

    Images larger than 1400 pixels are searched at half resolution (2 x 2
    max- or min-pooled, so strokes survive): four times less work for the
    morphology, and text 8 px high is still 4 px.

    Returns ``(box, score, char_height)`` per candidate, ``box`` as ``(x, y, w, h)`` in ``g``'s pixels.
    """
    ndi = _ndimage()
    f = 2 if max(g.shape) > 1400 else 1
    small = _pool(g, f, polarity) if f > 1 else g
    size = (_TOPHAT // f) | 1
    th = tophat(small, size, polarity)
    t = _threshold(th)
    tl = _local_threshold(th, t)
    mask = th > tl
    # edge steepness: drawn text steps within a pixel or two, anatomy is blurred
    grad = np.maximum(np.abs(np.diff(small, axis=1, append=small[:, -1:])),
                      np.abs(np.diff(small, axis=0, append=small[-1:, :])))
    lab, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return []
    objs = ndi.find_objects(lab)
    area = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    box = np.array([(s[0].start, s[0].stop, s[1].start, s[1].stop) if s is not None else (0, 0, 0, 0) for s in objs],
                   np.int64).reshape(-1, 4)
    h, w = box[:, 1] - box[:, 0], box[:, 3] - box[:, 2]
    fill = area / np.maximum(h * w, 1)
    keep = (_MIN_H <= h * f + 1) & (h * f <= _MAX_H) & (w <= 10 * h + 6)  # touching letters of small text: wide blobs
    keep &= (area * f * f >= 8) & (fill >= 0.08) & ~((fill > 0.95) & (w > 0.4 * h))  # solid bars: I, l, 1
    chars = []  # (x0, y0, x1, y1, peak top-hat, steepness)
    for i in np.flatnonzero(keep):
        sl = objs[i]
        peak = float(th[sl].max())
        chars.append((sl[1].start * f, sl[0].start * f, sl[1].stop * f, sl[0].stop * f, peak,
                      float(grad[sl].max()) / max(peak, 1e-3)))
    if not chars:
        return []
    return _group_lines(chars, t)


def _percentile(a: np.ndarray, q: float):
    """``np.percentile(a, q)`` of a whole array without NaN (linear interpolation; the same value and dtype), by
    one ``np.partition``: about three times less on the small crops the rendering takes percentiles of, where
    ``np.percentile``'s own overhead is most of its time."""
    v = np.asarray(a).ravel()
    n = v.size
    pos = (n - 1) * (q / 100.0)
    lo = int(np.floor(pos))
    hi = min(lo + 1, n - 1)
    part = np.partition(v, [lo, hi] if hi != lo else [lo])
    x0, x1 = part[lo], part[hi]
    t = pos - lo
    d = x1 - x0
    return (x1 - d * (1 - t)) if t >= 0.5 else (x0 + d * t)


def _median(a: np.ndarray) -> float:
    """``np.median`` of a short 1-D array, without its overhead (the mean of the two middle values when even)."""
    a = np.sort(a)
    m = len(a) // 2
    return float(a[m]) if len(a) % 2 else float((a[m - 1] + a[m]) / 2)


def _group_lines(chars: list[tuple], t: float) -> list[tuple[tuple[int, int, int, int], float, int]]:
    """Join character components into lines: side by side, overlapping vertically, of similar height.

    Two components join when the second starts within 0.9 x the taller one's height of the first's right
    edge, their heights differ by at most 2.2 x and they overlap vertically by 0.4 x the smaller height;
    lines are the connected components of that relation (``scipy.sparse.csgraph``).  The pairs are
    tested as arrays, in blocks, over the components sorted by their left edge (only those within one
    letter height and a gap of the tallest letter kept can join).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    c = np.array(sorted(chars), dtype=np.float64)
    n = len(c)
    x0, y0, x1, y1, peak, sharp = c.T
    h = y1 - y0
    reach = 0.9
    end = np.maximum(np.searchsorted(x0, x1 + reach * _MAX_H, side="right"), np.arange(1, n + 1))
    counts = end - np.arange(1, n + 1)  # components after i that may join it
    ei, ej = [], []
    start, block = 0, 2_000_000  # pairs tested at once (memory bound)
    csum = np.cumsum(counts)
    while start < n:
        stop = int(np.searchsorted(csum, (csum[start - 1] if start else 0) + block, side="right"))
        stop = max(stop, start + 1)
        cnt = counts[start:stop]
        ii = np.repeat(np.arange(start, stop), cnt)
        jj = ii + 1 + (np.arange(len(ii)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        hi, lo = np.maximum(h[ii], h[jj]), np.minimum(h[ii], h[jj])
        ok = (hi <= 2.2 * lo) & (x0[jj] - x1[ii] <= reach * hi)
        ok &= np.minimum(y1[ii], y1[jj]) - np.maximum(y0[ii], y0[jj]) >= 0.4 * lo
        ei.append(ii[ok])
        ej.append(jj[ok])
        start = stop
    ei, ej = np.concatenate(ei), np.concatenate(ej)
    _, label = connected_components(coo_matrix((np.ones(len(ei), np.int8), (ei, ej)), shape=(n, n)), directed=False)
    order = np.argsort(label, kind="stable")
    bounds = np.flatnonzero(np.diff(label[order])) + 1
    out = []
    for members in np.split(order, bounds):
        if len(members) == 1:
            (k,) = members
            if x1[k] - x0[k] < 1.2 * h[k] or sharp[k] < _MIN_SHARP:
                continue  # a lone letter-sized blob (a marker letter at best, never an identifier), or blurred
        hs = h[members]
        hm = _median(hs)
        bx0, by0, bx1, by1 = x0[members].min(), y0[members].min(), x1[members].max(), y1[members].max()
        if by1 - by0 > 2.5 * hm + 4 and len(members) > 2:
            # a blob joined to a line (at the image's edge, a label's frame) made it too tall: the line without
            # the components much taller than its letters or off its middle, if that is a line
            cy = (y0[members] + y1[members]) / 2
            core = members[(hs <= 1.6 * hm) & (np.abs(cy - _median(cy)) <= 0.75 * hm)]
            if 2 <= len(core) < len(members):
                members = core
                hs = h[members]
                hm = _median(hs)
                bx0, by0, bx1, by1 = x0[members].min(), y0[members].min(), x1[members].max(), y1[members].max()
        if by1 - by0 > 2.5 * hm + 4:
            continue  # not a line: a slanted chain of blobs (ribs, vessels)
        sh = _median(sharp[members])
        if sh < _MIN_SHARP:
            continue  # blurred: anatomy, not drawn text
        contrast = _median(peak[members]) / t
        regular = 1.0 / (1.0 + float(np.std(hs) / max(hm, 1.0)))
        score = min(1.0, 0.25 * contrast) * regular * min(1.0, len(members) / 3.0) * min(1.0, sh / 0.8)
        out.append(((int(bx0), int(by0), int(bx1 - bx0), int(by1 - by0)), score, int(round(hm))))
    return out


def _crop_tophat(g: np.ndarray, box, polarity: str, mx: int, my: int, k: int):
    """The top-hat (size ``k``, of ``polarity``) of ``box`` grown by ``mx``, ``my``; and that crop's corners.

    The morphology runs on the crop and ``k`` more pixels around it, so the
    crop's edges see the same background as its middle.
    """
    H, W = g.shape
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x - mx), max(0, y - my), min(W, x + w + mx), min(H, y + h + my)
    px0, py0, px1, py1 = max(0, x0 - k), max(0, y0 - k), min(W, x1 + k), min(H, y1 + k)
    region = g[py0:py1, px0:px1]
    th = tophat(region, k, polarity)
    return th[y0 - py0:y1 - py0, x0 - px0:x1 - px0], (x0, y0, x1, y1)


def _stacked_lines(g: np.ndarray, box, polarity: str, hm: int) -> list[tuple[tuple[int, int, int, int], int]]:
    """A tall candidate that is a block of text lines, as one candidate per line (else the candidate itself).

    Small text in lines close together (a film's header: name, record number and date, 7 px high, 7 px apart)
    fuses into one component when searched at half resolution; scaled by that component's height it was read
    at 4 px a letter, its lines mixed.  Rows of the candidate's top-hat lit above half its contrast, in two or
    more runs (three rows or more) separated by unlit rows and under half the candidate's height, are its
    lines: each becomes a candidate of its own, of the run's height.

    Returns
    -------
    list of (box, height)
    """
    x, y, w, h = box
    if hm < 16 or h < 12:
        return [(box, hm)]
    th, (x0, y0, x1, y1) = _crop_tophat(g, box, polarity, 0, 0, _TOPHAT)
    hi = float(_percentile(th, 99.5))
    if hi < 1e-3:
        return [(box, hm)]
    lit = np.append((th > 0.5 * hi).mean(axis=1) > 0.02, False)
    runs, start = [], None
    for i, v in enumerate(lit):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start >= 3:
                runs.append((start, i - start))
            start = None
    if len(runs) < 2 or _median(np.array([r[1] for r in runs], float)) >= 0.5 * hm:
        return [(box, hm)]
    return [((x, y0 + r0, w, n), n) for r0, n in runs]


def _render(g: np.ndarray, box, polarity: str, hm: int) -> tuple[np.ndarray, tuple[int, int], float]:
    """A candidate as dark text on white, from its own top-hat (background removed), scaled for Tesseract.

    The crop reaches one text height beyond the candidate on the left and
    right (a letter fused with the anatomy is not a component but is read),
    half a height above and below.
    """
    from PIL import Image

    # k wider than the strokes of large bold text
    th, (x0, y0, x1, y1) = _crop_tophat(g, box, polarity, max(4, int(round(1.0 * hm))), max(3, int(round(0.5 * hm))),
                                        max(_TOPHAT, int(0.6 * hm) | 1))
    hi = float(_percentile(th, 99.5))
    if hi < 1e-3:
        hi = 1.0
    u8 = (255 - np.clip(th / hi, 0, 1) * 255).astype(np.uint8)
    s = float(np.clip(_TARGET_H / max(hm, 1), 0.5, 4.0))
    if (x1 - x0) * s > 3000:
        s = 3000.0 / (x1 - x0)
    if abs(s - 1.0) > 0.05:
        u8 = np.asarray(Image.fromarray(u8).resize((max(1, int(round((x1 - x0) * s))), max(1, int(round((y1 - y0) * s)))),
                                                   Image.BICUBIC))
    else:
        s = 1.0
    return u8, (x0, y0), s


def detect_text(img: np.ndarray, lang: str = DEFAULT_LANG, max_candidates: int = 80,
                near: list[tuple[int, int, int, int]] | None = None, keep_unread: bool = False,
                windowed: np.ndarray | None = None) -> list[TextLine]:
    """Text lines in a grayscale radiograph (any bit depth; white = dense or inverted alike).

    Parameters
    ----------
    img : ndarray, 2-D
        8- or 16-bit (or float) image as stored; both polarities are searched.
    lang : str
        Tesseract languages.
    max_candidates : int
        At most this many candidates are read (the most text-like first), bounding the time per image.
    near : list of (x, y, w, h), optional
        Read only the candidates within one box height of these boxes (the
        second reading after a redaction: elsewhere the image did not change).
    keep_unread : bool
        Also return the candidates Tesseract read nothing in (they extend a
        row holding personal data to its letters that were not read).
    windowed : ndarray, optional
        ``window_to_float(img)`` when the caller has it already.

    Returns
    -------
    list of TextLine
        Every candidate read with at least one word (or every candidate, with
        ``keep_unread``), in image coordinates.
    """
    g = window_to_float(img) if windowed is None else windowed
    cands = []
    for pol in ("bright", "dark"):
        for box, score, hm in candidate_lines(g, pol):
            cands.append((box, pol, score, hm))
    if near is not None:
        def _close(b):
            return any(b[0] < x + w + h and x - h < b[0] + b[2] and b[1] < y + 2 * h and y - h < b[1] + b[3]
                       for x, y, w, h in near)
        cands = [c for c in cands if _close(c[0])]
    cands.sort(key=lambda c: (-c[2], c[0], c[1]))
    cands = [(b, pol, score, h) for box, pol, score, hm in cands[:max_candidates]
             for b, h in _stacked_lines(g, box, pol, hm)]
    if not cands:
        return []
    pieces = []
    for box, pol, score, hm in cands:
        u8, origin, s = _render(g, box, pol, hm)
        pieces.append((u8, origin, s))
    gap, pad = 24, 16
    width = max(p[0].shape[1] for p in pieces) + 2 * pad
    height = sum(p[0].shape[0] + gap for p in pieces) + gap
    mosaic = np.full((height, width), 255, np.uint8)
    slots = []  # (y_start, y_end) in the mosaic
    yy = gap
    for u8, _, _ in pieces:
        mosaic[yy:yy + u8.shape[0], pad:pad + u8.shape[1]] = u8
        slots.append((yy, yy + u8.shape[0]))
        yy += u8.shape[0] + gap
    words = ocr_words(mosaic, lang=lang, psm=11)
    lines = [TextLine(c[0], c[1], c[2], height=c[3]) for c in cands]
    starts = np.array([s[0] for s in slots])
    for wd in words:
        cy = wd.y + wd.h / 2
        k = int(np.searchsorted(starts, cy, side="right")) - 1
        if k < 0 or cy > slots[k][1]:
            continue
        (x0, y0), s = pieces[k][1], pieces[k][2]
        H, W = g.shape
        wx0 = min(W - 1, max(0, int(round(x0 + (wd.x - pad) / s))))
        wy0 = min(H - 1, max(0, int(round(y0 + (wd.y - slots[k][0]) / s))))
        wx1 = min(W, max(wx0 + 1, int(round(x0 + (wd.x + wd.w - pad) / s))))
        wy1 = min(H, max(wy0 + 1, int(round(y0 + (wd.y + wd.h - slots[k][0]) / s))))
        lines[k].words.append(Word(wx0, wy0, wx1 - wx0, wy1 - wy0, wd.conf, wd.text))
    return lines if keep_unread else [ln for ln in lines if ln.words]


def extend_along_row(g: np.ndarray, box: tuple[int, int, int, int], reach: float = 6.0,
                     gap: float = 1.2) -> tuple[int, int, int, int]:
    """``box`` (a text row) extended left and right while strokes continue along its band.

    Letters too faint or too fused with the anatomy to become candidates still
    leave top-hat energy in the row's band: columns whose strongest top-hat
    (either polarity) exceeds half the contrast of the row's fainter read
    strokes (their lower quartile: text over a shoulder or the film's edge
    loses contrast along the row) are ink; the box grows over ink separated by gaps shorter than ``gap`` x its
    height, up to ``reach`` x its height on each side.
    """
    H, W = g.shape
    x, y = max(0, int(box[0])), max(0, int(box[1]))
    w, h = min(W, int(box[0]) + int(box[2])) - x, min(H, int(box[1]) + int(box[3])) - y
    if h < 3 or w < 3:
        return box
    k = max(_TOPHAT, int(0.6 * h) | 1)
    r = int(reach * h)
    x0, x1 = max(0, x - r), min(W, x + w + r)
    y0, y1 = max(0, y - k), min(H, y + h + k)
    band = g[y0:y1, max(0, x0 - k):min(W, x1 + k)]
    th = tophat(band, k, "both")
    th = th[y - y0:y - y0 + h, x0 - max(0, x0 - k):x0 - max(0, x0 - k) + (x1 - x0)]
    prof = th.max(axis=0)
    inside = prof[x - x0:x - x0 + w]
    strokes = inside[inside > 12.0]
    if not len(strokes):
        return box
    ink = prof > max(12.0, 0.5 * float(_percentile(strokes, 25)))
    limit = max(2, int(gap * h))
    left, right = x - x0, x - x0 + w - 1
    c, run = right + 1, 0
    while c < len(ink) and run <= limit:
        if ink[c]:
            right, run = c, 0
        else:
            run += 1
        c += 1
    c, run = left - 1, 0
    while c >= 0 and run <= limit:
        if ink[c]:
            left, run = c, 0
        else:
            run += 1
        c -= 1
    return x0 + left, y, right - left + 1, h


#: Height the text of a band is scaled to for the second reading (pixels): larger than the first reading's.
_REREAD_H = 40.0
#: Skew angles tried when a band is straightened for the second reading (degrees).
_SKEWS = np.arange(-4.0, 4.01, 0.5)
#: Percentile of a band's top-hat taken as its background: text covers well under 30% of a band.
_BACKGROUND_PCT = 70.0


def _skew(ink: np.ndarray) -> float:
    """The angle (degrees, counter-clockwise) that makes the ink of a band's rows horizontal.

    The projection-profile method: the shear whose row profile of ink is the
    most peaked (largest sum of squares) aligns the text with the rows.
    """
    ys, xs = np.nonzero(ink)
    if len(ys) < 20:
        return 0.0
    xs = xs - xs.mean()
    best, best_a = -1.0, 0.0
    for a in _SKEWS:
        yy = np.round(ys + xs * np.tan(np.radians(a))).astype(int)
        yy -= yy.min()
        prof = np.bincount(yy)
        sc = float(np.dot(prof, prof))
        if sc > best * 1.02 or (sc >= best and abs(a) < abs(best_a)):
            best, best_a = max(sc, best), float(a)
    return best_a


def _band_image(g: np.ndarray, box, polarity: str, hm: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One band for the second reading: dark text on white, straightened, background suppressed, text ~40 px high.

    The band (the row and a margin) is taken from the windowed image, its
    background removed by a top-hat wider than the first reading's, stretched
    to the contrast of its strokes stretch by stretch along the row (local
    contrast: letters over a brightening background stay dark), the texture
    left by the anatomy (its 70th percentile and below) set to white, rotated by the skew that makes its
    ink horizontal (slightly rotated text is what the first reading splits and
    misreads), and upscaled.  Also returns the box of the band's ink in the
    image (the extent of a rotated line, which its first-reading row may
    cover only in part).  (Local histogram equalization, CLAHE, was tried
    here: it amplifies that texture and Tesseract read less of the bench's
    missed rows with it.)
    """
    from PIL import Image

    ndi = _ndimage()
    th, (x0, y0, x1, y1) = _crop_tophat(g, box, polarity, max(6, int(round(0.8 * hm))), max(4, int(round(0.6 * hm))),
                                        max(_TOPHAT, int(0.9 * hm) | 1))
    # the strokes' contrast is taken without the ruled lines crossing the band (a film's frame line lights a whole
    # pixel row, text never does): such a line would set it and leave the text beside it pale grey
    row = th
    full = (row > 0.5 * row.max(axis=1, keepdims=True)).mean(axis=1) > 0.8
    if full.any() and not full.all():
        row = row[~full]
    hi = float(_percentile(row, 99.5))
    if hi < 1e-3:
        hi = 1.0
    # contrast along the row: each stretch of the band scaled to its own strongest strokes (text whose background
    # brightens along the row keeps its letters dark), never to less than a quarter of the band's
    local = ndi.maximum_filter1d(np.percentile(row, 98, axis=0), size=max(3, int(4 * hm)))
    v = np.clip(th / np.maximum(local, 0.25 * hi)[None, :], 0, 1)
    lo = float(_percentile(v, _BACKGROUND_PCT))  # the band's texture (anatomy under the text) goes to white
    v = np.clip((v - lo) / max(1e-3, 1.0 - lo), 0, 1)
    u8 = (255 - np.clip(v, 0, 1) * 255).astype(np.uint8)
    ys, xs = np.nonzero(v > 0.5)
    ink = (x0 + int(xs.min()), y0 + int(ys.min()), int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1) \
        if len(ys) else tuple(box)
    ang = _skew(th > 0.35 * hi)
    s = float(np.clip(_REREAD_H / max(hm, 1), 1.0, 4.0))
    if (x1 - x0) * s > 3000:
        s = 3000.0 / (x1 - x0)
    im = Image.fromarray(u8)
    if abs(s - 1.0) > 0.05:
        im = im.resize((max(1, int(round((x1 - x0) * s))), max(1, int(round((y1 - y0) * s)))), Image.BICUBIC)
    if ang:
        im = im.rotate(-ang, resample=Image.BICUBIC, expand=True, fillcolor=255)
    return np.asarray(im), ink


def reread_bands(g: np.ndarray, bands: list[tuple[tuple[int, int, int, int], str, float]], lang: str = DEFAULT_LANG,
                 digits: bool = False) -> list[TextLine]:
    """A second, stronger reading of text bands: one :class:`TextLine` per band (same order; text in memory only).

    Each line's box is the band's with the extent of its ink; its words carry
    the text and confidence Tesseract gave, all with the line's box (the band
    is straightened before it is read: word positions are not mapped back).

    Parameters
    ----------
    g : ndarray
        The windowed image (:func:`window_to_float`).
    bands : list of (box, polarity, text height)
        Rows to read again; ``box`` is ``(x, y, w, h)``.
    digits : bool
        Read digits only (Tesseract's character whitelist): record numbers and
        dates of which the first reading caught a label or a part.

    All bands go into one mosaic read by Tesseract in a single call (sparse
    text, as the first reading: a block or single-line mode lets one band's
    noise disturb the next), so the second reading costs one Tesseract start
    per image.
    """
    if not bands:
        return []
    rendered = [_band_image(g, box, pol, hm) for box, pol, hm in bands]
    pieces = [r[0] for r in rendered]
    gap, pad = 30, 20
    width = max(p.shape[1] for p in pieces) + 2 * pad
    height = sum(p.shape[0] + gap for p in pieces) + gap
    mosaic = np.full((height, width), 255, np.uint8)
    slots = []
    yy = gap
    for p in pieces:
        mosaic[yy:yy + p.shape[0], pad:pad + p.shape[1]] = p
        slots.append((yy, yy + p.shape[0]))
        yy += p.shape[0] + gap
    words = ocr_words(mosaic, lang=lang, psm=11, whitelist="0123456789" if digits else None)
    texts: list[list[Word]] = [[] for _ in bands]
    starts = np.array([s[0] for s in slots])
    for wd in words:
        cy = wd.y + wd.h / 2
        k = int(np.searchsorted(starts, cy, side="right")) - 1
        if 0 <= k and cy <= slots[k][1]:
            texts[k].append(wd)
    out = []
    for (box, pol, _), (_, ink), ws in zip(bands, rendered, texts):
        x0, y0 = min(box[0], ink[0]), min(box[1], ink[1])
        x1, y1 = max(box[0] + box[2], ink[0] + ink[2]), max(box[1] + box[3], ink[1] + ink[3])
        lb = (x0, y0, x1 - x0, y1 - y0)
        out.append(TextLine(lb, pol, 0.0, [Word(*lb, w.conf, w.text) for w in sorted(ws, key=lambda w: w.x)]))
    return out
