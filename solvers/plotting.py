"""The plotting setup every chart shares: matplotlib is an optional extra (`cpsched[plot]`)."""

from __future__ import annotations

from cpsched.instances.errors import InputError


def require_matplotlib(what: str = "--plot"):
    """matplotlib's pyplot, or an InputError saying that `what` needs it and how to install it. The
    backend is left to matplotlib and the caller (it picks a headless one where there is no display)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError(f"{what} needs matplotlib: pip install matplotlib (cpsched's 'plot' extra)") from None
    return plt
