"""What the analysis pictures share (matplotlib, imported by the callers)."""
from pathlib import Path
from typing import Any, Union


def log_y(ax: Any) -> None:
    """A log-scale y axis labelled in plain numbers (``0.3``, not ``3x10^-1``)."""
    from matplotlib.ticker import FormatStrFormatter
    ax.set_yscale('log')
    for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        axis(FormatStrFormatter('%.3g'))


def save_figure(fig: Any, path: Union[str, Path], dpi: int = 90) -> Path:
    """Lay ``fig`` out, write it to ``path`` (making its folder) and close it."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
