"""Charts drawn with matplotlib (Agg, no global pyplot state) in a theme's colours, as PNG."""

from __future__ import annotations

import logging
from pathlib import Path

from engines.slides.deck import ChartSpec
from engines.slides.themes import Theme

log = logging.getLogger(__name__)

# Resolution of chart images, in dots per inch.
CHART_DPI = 150


def render_chart(chart: ChartSpec, theme: Theme, out_path: str | Path, width_in: float = 10.0,
                 height_in: float = 5.2, dpi: int = CHART_DPI) -> Path:
    """Draw `chart` to a PNG of width_in x height_in inches at `dpi`; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi, facecolor=theme.background)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor(theme.background)
    colors = list(theme.chart_colors)
    font = {"family": [theme.font, "DejaVu Sans"], "size": 14}
    labels = list(chart.labels)
    if chart.kind == "pie":
        name, values = chart.series[0]
        wedges, texts, autotexts = ax.pie(
            values, labels=labels, colors=[colors[i % len(colors)] for i in range(len(values))],
            autopct="%1.0f%%", startangle=90, counterclock=False,
            wedgeprops={"edgecolor": theme.background, "linewidth": 2},
            textprops={"color": theme.text, **font})
        for t in autotexts:
            t.set_color(theme.background)
        ax.set_aspect("equal")
    else:
        import numpy as np

        x = np.arange(len(labels))
        n = len(chart.series)
        width = 0.8 / n
        for i, (name, values) in enumerate(chart.series):
            color = colors[i % len(colors)]
            if chart.kind == "bar":
                ax.bar(x - 0.4 + width * (i + 0.5), values, width * 0.92, label=name, color=color)
            else:
                ax.plot(x, values, marker="o", linewidth=3, markersize=8, label=name, color=color)
        ax.set_xticks(x, labels)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            ax.spines[side].set_color(theme.muted)
        ax.tick_params(colors=theme.text, labelsize=13)
        for t in ax.get_xticklabels() + ax.get_yticklabels():
            t.set_fontfamily(font["family"])
        ax.grid(axis="y", color=theme.muted, alpha=0.25)
        ax.set_axisbelow(True)
        if n > 1:
            legend = ax.legend(frameon=False, prop={"family": font["family"], "size": 13})
            for t in legend.get_texts():
                t.set_color(theme.text)
        else:
            ax.set_ylabel(chart.series[0][0], color=theme.text, fontsize=14, fontfamily=font["family"])
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=dpi, facecolor=theme.background)
    log.debug("chart %s -> %s", chart.kind, out_path)
    return out_path
