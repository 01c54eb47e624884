"""Figure style shared by analysis/: readable fonts, labelled axes, PNG + PDF outputs."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"font.size": 11, "axes.labelsize": 12, "axes.titlesize": 12, "legend.fontsize": 10,
         "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.dpi": 150, "savefig.bbox": "tight",
         "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.5}
LIQUID, GLASS = "tab:blue", "tab:green"  # the SI's figures: liquids blue, glasses green


def figure(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.8):
    plt.rcParams.update(STYLE)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)


def panel_letters(fig) -> int:
    """Letter the panels of a figure with more than one, (a), (b), ... at each panel's top left,
    as a journal figure has them; panels whose title already starts with a letter in brackets
    and colour bars are left alone. Returns how many panels were lettered."""
    panels = [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")
              and (ax.lines or ax.patches or ax.images or ax.collections or ax.texts)]
    if len(panels) < 2 or any(ax.get_title().startswith("(") for ax in panels):
        return 0
    fig.canvas.draw()  # lay the figure out: each panel's extent then includes its labels and title
    renderer, to_fig = fig.canvas.get_renderer(), fig.transFigure.inverted()
    for i, ax in enumerate(panels):
        # at the top-left corner of the panel with its labels and title: clear of both (a
        # suptitle sits above the panels' titles, a long y label beside them)
        bb = to_fig.transform(ax.get_tightbbox(renderer))
        fig.text(bb[0][0], bb[1][1], f"({chr(97 + i)})", ha="left", va="bottom", fontweight="bold", fontsize=11)
    return len(panels)


def save(fig, path: str | Path) -> list[Path]:
    """Write ``path`` as .png and .pdf, panels lettered (:func:`panel_letters`); returns both paths."""
    panel_letters(fig)
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".png", ".pdf") else path  # keep "T0.05"
    out = [stem.parent / (stem.name + ".png"), stem.parent / (stem.name + ".pdf")]
    from glasskit.util.outputs import claim, record
    for p in out:
        claim(p)
    for p in out:
        fig.savefig(p, metadata={"Creator" if p.suffix == ".pdf" else "Software": "glasskit"})
        record(p)
    plt.close(fig)
    return out


def sci(value: float) -> str:
    """2e7 -> '$2 \\times 10^{7}$' for labels."""
    mant, exp = f"{value:.0e}".split("e")
    return rf"${mant} \times 10^{{{int(exp)}}}$"
