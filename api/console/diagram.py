"""The state machine drawn server-side as SVG, from :data:`pipeline.lifecycle.machine.TRANSITION_TABLE`.

The layout is fixed (the ladder left to right, revoked and removed below) but every edge comes from the
table: a row added to the table without a place in this drawing makes :func:`machine_svg` fail loudly,
so the picture cannot silently disagree with the law it shows.
"""

from __future__ import annotations

from html import escape
from itertools import pairwise

from markupsafe import Markup

from pipeline.lifecycle.machine import NEW, TRANSITION_TABLE
from pipeline.rulebooks import Rulebook

WIDTH, HEIGHT = 1000, 440
BOX_W, BOX_H = 184, 54
Y_LADDER, Y_OUT = 190, 372
CENTRES = {"reserve": 150, "innovative": 380, "provincial": 610, "national": 840, "revoked": 380, "removed": 730}
SHORT = {"enroll": "纳入", "recognize_innovative": "认定", "recognize_provincial": "认定", "recognize_national": "认定",
         "renew": "复核续期", "demote": "降级", "expire": "到期", "revoke": "撤销", "remove": "移出"}
LADDER = ("reserve", "innovative", "provincial", "national")


def _y(state: str) -> int:
    return Y_OUT if state in ("revoked", "removed") else Y_LADDER


def _path(d: str, label: str, lx: float, ly: float, css: str = "edge") -> str:
    return (f'<path class="{css}" d="{d}" marker-end="url(#arrow)"/>'
            f'<text class="edge-label" x="{lx}" y="{ly}" text-anchor="middle">{escape(label)}</text>')


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for trigger, source, dest in TRANSITION_TABLE:
        edges.setdefault((source, dest), []).append(trigger)
    return edges


def machine_svg(book: Rulebook) -> Markup:
    parts: list[str] = []
    drawn: set[tuple[str, str]] = set()
    edges = _edges()
    top, bottom = Y_LADDER - BOX_H // 2, Y_LADDER + BOX_H // 2

    def label_of(source: str, dest: str) -> str:
        drawn.add((source, dest))
        return "·".join(dict.fromkeys(SHORT[t] for t in edges[(source, dest)]))

    # entry and the recognitions, left to right
    parts.append('<circle class="start" cx="30" cy="190" r="9"/>')
    parts.append(_path(f"M40,{Y_LADDER} H{CENTRES['reserve'] - BOX_W // 2 - 2}", label_of(NEW, "reserve"), 52, 180))
    for lower, upper in pairwise(LADDER):
        x1, x2 = CENTRES[lower] + BOX_W // 2, CENTRES[upper] - BOX_W // 2
        parts.append(_path(f"M{x1},{Y_LADDER} H{x2 - 2}", label_of(lower, upper), (x1 + x2) / 2, Y_LADDER - 8))
    # demotions and expiries arc back over the ladder
    for i, high in enumerate(LADDER):
        for low in LADDER[:i]:
            if (high, low) not in edges:
                continue
            span = i - LADDER.index(low)
            h = 30 + 38 * span
            sx, ex = CENTRES[high] - 12 * span, CENTRES[low] + 12 * span
            parts.append(_path(f"M{sx},{top} C{sx},{top - h} {ex},{top - h} {ex},{top - 2}",
                               label_of(high, low), (sx + ex) / 2, top - 0.75 * h - 4, "edge back"))
    # renewals loop on their own tier
    for state in LADDER:
        if (state, state) in edges:
            cx = CENTRES[state]
            parts.append(_path(f"M{cx - 14},{bottom} C{cx - 30},{bottom + 34} {cx + 30},{bottom + 34} {cx + 14},"
                               f"{bottom + 2}", label_of(state, state), cx, bottom + 44, "edge loop"))
    # revocation and removal: a bus under the ladder, one drop per state
    for dest, offset, bus in (("revoked", -52, 292), ("removed", 52, 312)):
        sources = [s for s in LADDER if (s, dest) in edges]
        xs = [CENTRES[s] + offset for s in sources]
        for source, x in zip(sources, xs, strict=True):
            drawn.add((source, dest))
            parts.append(f'<path class="edge bus" d="M{x},{bottom} V{bus}"/>')
        label = "·".join(dict.fromkeys(SHORT[t] for s in sources for t in edges[(s, dest)]))
        parts.append(f'<path class="edge bus" d="M{min(xs)},{bus} H{max(xs)}"/>')
        down = CENTRES[dest] + offset // 4
        parts.append(_path(f"M{down},{bus} V{Y_OUT - BOX_H // 2 - 2}", label, down + 26, bus + 20))
    left, right = CENTRES["revoked"] + BOX_W // 2, CENTRES["removed"] - BOX_W // 2
    parts.append(_path(f"M{left},{Y_OUT} H{right - 2}", label_of("revoked", "removed"), (left + right) / 2, Y_OUT - 8))
    # re-entry into the pool
    reserve_left = CENTRES["reserve"] - BOX_W // 2
    for source, x, y in (("revoked", 60, Y_OUT + 14), ("removed", 46, Y_OUT + 46)):
        start = (f"M{CENTRES[source] - BOX_W // 2},{y}" if source == "revoked"
                 else f"M{CENTRES[source]},{Y_OUT + BOX_H // 2} V{y}")
        text = label_of(source, "reserve") + ("（禁入期满后）" if source == "revoked" else "")
        parts.append(_path(f"{start} H{x} V{Y_LADDER + 14} H{reserve_left - 2}", text, 170, y - 5, "edge back"))
    # a removed firm that kept its titles (relocated) gets back its highest one on enroll: dashed returns
    returns = [tier for tier in LADDER[1:] if ("removed", tier) in edges]
    for i, tier in enumerate(returns):
        drawn.add(("removed", tier))
        x0 = CENTRES["removed"] + BOX_W // 2 - 20 - 14 * i
        x1 = CENTRES[tier] + 30 + 8 * i
        parts.append(f'<path class="edge back restore" d="M{x0},{Y_OUT - BOX_H // 2} L{x1},{bottom + 2}" '
                     f'marker-end="url(#arrow)"/>')
    if returns:
        label = "·".join(dict.fromkeys(SHORT[t] for tier in returns for t in edges[("removed", tier)]))
        parts.append(f'<text class="edge-label" x="{CENTRES["national"] + 40}" y="{Y_OUT - 60}" '
                     f'text-anchor="middle">{escape(label + "（恢复有效称号）")}</text>')
    missing = set(edges) - drawn
    if missing:
        raise AssertionError(f"transitions without a place in the drawing: {sorted(missing)}")
    for state, cx in CENTRES.items():
        y = _y(state)
        parts.append(
            f'<g class="state state-{state}"><rect x="{cx - BOX_W // 2}" y="{y - BOX_H // 2}" width="{BOX_W}" '
            f'height="{BOX_H}" rx="8"/><text x="{cx}" y="{y + 5}" text-anchor="middle">{escape(_wrap(book, state))}'
            f'</text></g>')
    defs = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker></defs>')
    return Markup(  # noqa: S704 — every text node above is escaped; the rest is fixed markup
        f'<svg class="machine" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="状态机图">{defs}'
        f'{"".join(parts)}</svg>')


def _wrap(book: Rulebook, state: str) -> str:
    label = book.label(state)
    return label if len(label) <= 12 else label.replace("中小企业", "").replace("企业", "")
