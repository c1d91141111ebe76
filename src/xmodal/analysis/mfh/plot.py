"""Figures for the MVD Gaussian experiments: accuracy versus γ (Fig. 2) or α (Fig. 3) with ±1 std bands."""

from __future__ import annotations

from typing import Any


def plot_sweep(rows: list[dict[str, Any]], x_key: str, path: str, title: str) -> None:
    """Teacher, no-KD and KD student accuracy versus ``x_key`` ("gamma" or "alpha"), shaded ±1 std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r[x_key] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, label in (("teacher", "teacher (x^a)"), ("no_kd", "student, no KD (x^b)"), ("kd", "student, KD (x^b)")):
        mean = [r[key]["mean"] for r in rows]
        std = [r[key]["std"] for r in rows]
        ax.plot(xs, mean, marker="o", label=label)
        ax.fill_between(xs, [m - s for m, s in zip(mean, std, strict=True)],
                        [m + s for m, s in zip(mean, std, strict=True)], alpha=0.2)
    ax.set_xlabel("γ" if x_key == "gamma" else "α")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
