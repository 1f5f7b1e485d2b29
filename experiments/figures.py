"""Figure conventions shared by the experiments' plots.

Every figure should be readable without its source code:

- every axis is labelled (``"1"`` or what the quantity is when it has no unit);
- every line style and marker in use is named once in a legend (``style_legend``), e.g. solid =
  test, dashed = train, dotted = linearised network, thin horizontal line = kernel regression;
  shaded bands and error bars are named as what they are ("mean +- s.e. over 8 datasets");
- colour that encodes a swept parameter has a colour bar (``colour_bar``, logarithmic when the
  values span a decade or more) or a legend naming each value (``value_legend``);
- long descriptions go into the figure's title (``fig.suptitle``) or are wrapped to the panel's
  width (``wrapped_title``), never cut off.

``figure_problems`` lists the violations it can detect (missing axis labels, images without a
colour bar, several line styles without a legend, titles wider than the figure); the tests run it
on committed results.
"""

from __future__ import annotations

import textwrap

import numpy as np

# The line styles used for the same role in every figure.
TEST = dict(ls="-", lw=1.4)
TRAIN = dict(ls="--", lw=1.4)
LINEARISED = dict(ls=":", lw=1.2)
KERNEL = dict(ls="-", lw=0.7, alpha=0.7)


def band_label(n: int, what: str = "datasets") -> str:
    """The name of a mean +- standard-error band over ``n`` repetitions."""
    return f"band: mean +- s.e. over {n} {what}" if n > 1 else f"single {what[:-1]}"


def style_handles(entries):
    """Legend handles for ``entries``: (label, kwargs) with kwargs of ``Line2D`` (a line style or
    marker, colour black unless given), or (label, "band") for a shaded band."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    for label, style in entries:
        if style == "band":
            handles.append(Patch(facecolor="0.6", alpha=0.4, label=label))
            continue
        kw = dict(color="k", lw=1.3)
        kw.update(style)
        if "marker" in kw and "ls" not in kw and "linestyle" not in kw:
            kw["ls"] = ""
        handles.append(Line2D([], [], label=label, **kw))
    return handles


def style_legend(where, entries, **kwargs):
    """A legend that names each line style once (``style_handles``), on an axes or a figure.
    On a figure with constrained layout, ``loc="outside lower center"`` keeps it off the data."""
    kw = dict(fontsize=7)
    kw.update(kwargs)
    return where.legend(handles=style_handles(entries), **kw)


def legend_below(ax, handles=None, **kwargs):
    """The axes' legend under its x label, off the data (constrained layout makes room for it)."""
    kw = dict(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    kw.update(kwargs)
    return ax.legend(handles=handles, **kw) if handles is not None else ax.legend(**kw)


def log_spaced(values) -> bool:
    """True when positive values span a decade or more (they read best on a log scale)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return v.size > 1 and bool(np.all(v > 0)) and v.max() / v.min() >= 10


def _sweep_colormap(cmap: str, n: int | None = None):
    """``cmap`` without its palest end (yellow on white is hard to see), optionally n colours."""
    from matplotlib import colormaps, colors

    base = colormaps[cmap]
    top = 0.88 if cmap in ("viridis", "plasma", "inferno", "magma", "cividis") else 1.0
    if n is not None:
        return colors.ListedColormap(base(np.linspace(0, top, max(n, 2))[:n]))
    return colors.LinearSegmentedColormap.from_list(f"{cmap}_sweep", base(np.linspace(0, top, 256)))


class ValueColours:
    """Colours for the values of a swept parameter and their colour bar.

    Values spanning a decade or more get a logarithmic scale, others a linear one; values unevenly
    spread on that scale (0, 0.05, 0.1, 0.2, 0.5, 1) get one block per value instead, in order, so
    that neighbouring values stay distinguishable.
    """

    def __init__(self, values, cmap: str = "viridis"):
        from matplotlib import cm, colors

        v = np.asarray(values, dtype=float)
        self.values = [float(x) for x in v[np.isfinite(v)]]
        ordered = np.sort(np.unique(self.values))
        log = log_spaced(ordered)
        scaled = np.log(ordered) if log else ordered
        gaps = np.diff(scaled)
        self.ordinal = ordered.size > 2 and gaps.min() < 0.4 * gaps.max()
        if self.ordinal:
            self._index = {x: n for n, x in enumerate(ordered)}
            norm = colors.BoundaryNorm(np.arange(ordered.size + 1) - 0.5, ordered.size)
        elif log:
            norm = colors.LogNorm(ordered[0], ordered[-1])
        else:
            lo, hi = (ordered[0], ordered[-1]) if ordered[-1] > ordered[0] else (ordered[0] - 0.5, ordered[0] + 0.5)
            norm = colors.Normalize(lo, hi)
        cmap = _sweep_colormap(cmap, ordered.size if self.ordinal else None)
        self.ordered = ordered
        self.mappable = cm.ScalarMappable(norm=norm, cmap=cmap)

    def colour(self, value):
        """The colour of ``value``."""
        x = float(value)
        return self.mappable.to_rgba(self._index[x] if self.ordinal else x)

    def bar(self, fig, ax, label: str, **kwargs):
        """A colour bar beside ``ax`` (an axes or a list of them) with a tick at each value."""
        bar = fig.colorbar(self.mappable, ax=ax, label=label, **kwargs)
        ticks = np.arange(self.ordered.size) if self.ordinal else self.ordered
        bar.set_ticks(ticks)
        bar.set_ticklabels([f"{x:g}" for x in self.ordered])
        bar.minorticks_off()
        return bar


def value_legend(where, labels_colours, **kwargs):
    """A legend naming each value of a swept parameter by its colour (a short solid line)."""
    from matplotlib.lines import Line2D

    kw = dict(fontsize=7)
    kw.update(kwargs)
    return where.legend(handles=[Line2D([], [], color=c, lw=2, label=l) for l, c in labels_colours], **kw)


def wrapped(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters."""
    return "\n".join(textwrap.wrap(text, width)) if text else text


def wrapped_title(ax, text: str, fontsize: float = 9, **kwargs):
    """A panel title wrapped to the panel's width (its share of the figure's width, less the
    margins; about half the font size per character)."""
    spec = ax.get_subplotspec()
    share = 1.0
    if spec is not None:
        grid = spec.get_gridspec()
        share = (spec.colspan.stop - spec.colspan.start) / grid.ncols
    width_pt = 0.8 * share * ax.get_figure().get_figwidth() * 72
    chars = max(20, int(width_pt / (0.5 * fontsize)))
    return ax.set_title(wrapped(text, chars), fontsize=fontsize, **kwargs)


def log_ticks_as_values(ax, axis: str, values):
    """Ticks of a log axis at the swept ``values``, written plainly (0.25, not 2.5 x 10^-1)."""
    from matplotlib.ticker import NullFormatter, NullLocator

    v = [float(x) for x in values]
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())
    (ax.set_xticks if axis == "x" else ax.set_yticks)(v, [f"{x:g}" for x in v])


# ------------------------------------------------------------------------------------ checks
def _line_styles(ax) -> set:
    from matplotlib.collections import PathCollection

    styles = set()
    for line in ax.get_lines():
        if not line.get_visible() or len(line.get_xdata()) == 0:
            continue
        ls = line.get_linestyle()
        marker = line.get_marker()
        styles.add((ls if ls not in ("None", "") else "", marker if marker not in ("None", None) else ""))
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):
            styles.add(("", "scatter"))
    return styles


def _has_legend(ax) -> bool:
    """The axes has its own legend, or the figure one that names the styles of every panel."""
    return ax.get_legend() is not None or bool(ax.get_figure().legends)


def _colour_bar_axes(fig) -> set:
    return {a for a in fig.axes if getattr(a, "_colorbar", None) is not None}


def _colour_bar_scales(fig) -> list:
    """(mappable, colormap name, colour limits) of every colour bar of ``fig``."""
    out = []
    for a in fig.axes:
        bar = getattr(a, "_colorbar", None)
        if bar is not None:
            m = bar.mappable
            out.append((m, m.get_cmap().name, tuple(np.round(m.get_clim(), 12))))
    return out


def _has_colour_bar(art, scales) -> bool:
    """``art`` is a colour bar's mappable or shares one's colormap and limits (panels of one scale)."""
    key = (art.get_cmap().name, tuple(np.round(art.get_clim(), 12)))
    return any(art is m or key == (name, clim) for m, name, clim in scales)


def figure_problems(fig) -> list[str]:
    """What keeps ``fig`` from being read on its own (module docstring); empty when nothing does."""
    from matplotlib.collections import QuadMesh

    fig.canvas.draw()
    problems = []
    bars = _colour_bar_axes(fig)
    scales = _colour_bar_scales(fig)
    frame = fig.bbox
    renderer = fig.canvas.get_renderer()
    titles = list(fig.texts)   # the figure's title among them
    for n, ax in enumerate(fig.axes):
        if ax in bars or not ax.get_visible() or not ax.axison:
            continue
        name = f"axes {n} ({ax.get_title()[:40]!r})"
        if not ax.get_xlabel().strip():
            problems.append(f"{name}: no x label")
        if not ax.get_ylabel().strip():
            problems.append(f"{name}: no y label")
        for art in ax.images + [c for c in ax.collections if isinstance(c, QuadMesh)]:
            if not _has_colour_bar(art, scales):
                problems.append(f"{name}: {type(art).__name__} without a colour bar")
        if len(_line_styles(ax)) > 1 and not _has_legend(ax):
            problems.append(f"{name}: several line styles and no legend")
        titles += [ax.title, ax._left_title, ax._right_title]
    for title in titles:
        if not title.get_text():
            continue
        box = title.get_window_extent(renderer)
        if box.x0 < frame.x0 - 1 or box.x1 > frame.x1 + 1:
            problems.append(f"title {title.get_text()[:40]!r} is wider than the figure")
    return problems
