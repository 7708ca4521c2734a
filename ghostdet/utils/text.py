from typing import Sequence


def preview(items: Sequence, most: int = 8) -> str:
    """``a, b, c, ... (N more)``: the first ``most`` items of a list for an error message."""
    shown = ', '.join(str(i) for i in items[:most])
    return shown + (f', ... ({len(items) - most} more)' if len(items) > most else '')
