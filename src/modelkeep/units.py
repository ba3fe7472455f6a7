"""How sizes are written for people: one formatter for the CLI and the web UI."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """``1,234 B``, ``12.3 MB`` (powers of 1000, as disk and network figures are quoted)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)
