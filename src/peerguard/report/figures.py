"""The report's figures, drawn with matplotlib (Agg, no display) from the document's figure data, as PNG."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

DPI = 110


def png(figure: dict[str, Any]) -> bytes:
    """One figure of the document as PNG bytes."""
    fig = _DRAW[figure["kind"]](figure)
    fig.suptitle(figure["title"], fontsize=11)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})  # no version stamp: same bytes
    plt.close(fig)
    return buffer.getvalue()


def _errors(cells: list[dict[str, Any]]) -> tuple[list[float], list[list[float]]]:
    values = [c["rate"] or 0.0 for c in cells]
    low = [max(0.0, v - c["low"]) for v, c in zip(values, cells, strict=True)]
    high = [max(0.0, c["high"] - v) for v, c in zip(values, cells, strict=True)]
    return values, [low, high]


def _policy_rates(figure: dict[str, Any]) -> Figure:
    cells = figure["cells"]
    policies = list(dict.fromkeys(c["policy"] for c in cells))
    series = list(dict.fromkeys((c["substrate"], measure) for c in cells for measure in ("relaunched", "masked")))
    fig, ax = plt.subplots(layout="constrained", figsize=(8, 3.6))
    width = 0.8 / max(1, len(series))
    for i, (substrate, measure) in enumerate(series):
        chosen = [next((c for c in cells if c["policy"] == p and c["substrate"] == substrate), None) for p in policies]
        present = [(j, c[measure]) for j, c in enumerate(chosen) if c is not None]
        values, errors = _errors([m for _, m in present])
        xs = [j + (i - (len(series) - 1) / 2) * width for j, _ in present]
        ax.bar(xs, values, width, yerr=errors, capsize=2, label=f"{measure} ({substrate})",
               hatch="//" if substrate == "live" else None)  # fmt: skip
    ax.set_xticks(range(len(policies)), policies)
    ax.set_ylabel("share of kills")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, ncols=2)
    return fig


def _sweep(figure: dict[str, Any]) -> Figure:
    sweeps = figure["sweeps"]
    fig, axes = plt.subplots(1, len(sweeps), layout="constrained", figsize=(3.2 * len(sweeps), 3.2), squeeze=False)
    image = None
    for ax, sweep in zip(axes[0], sweeps, strict=True):
        grid = [[float("nan") if v is None or v["rate"] is None else v["rate"] for v in row] for row in sweep["values"]]
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
        ax.set_xticks(range(len(sweep["xs"])), [_label(x) for x in sweep["xs"]], fontsize=7)
        ax.set_yticks(range(len(sweep["ys"])), [_label(y) for y in sweep["ys"]], fontsize=7)
        ax.set_xlabel(sweep["setting"], fontsize=8)
        ax.set_ylabel(sweep["arg"], fontsize=8)
        ax.set_title(sweep["grid"], fontsize=9)
        for y, row in enumerate(grid):
            for x, value in enumerate(row):
                if value == value:  # not NaN
                    ax.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=7,
                            color="black" if value > 0.5 else "white")  # fmt: skip
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="relaunch rate")
    return fig


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _detectors(figure: dict[str, Any]) -> Figure:
    cells = figure["cells"]
    fig, ax = plt.subplots(layout="constrained", figsize=(8, 0.45 * len(cells) + 1.2))
    ys = range(len(cells))
    for offset, measure in ((-0.2, "precision"), (0.2, "recall")):
        chosen = [c[measure] for c in cells]
        values, errors = _errors(chosen)
        ax.barh([y + offset for y in ys], values, 0.4, xerr=errors, capsize=2, label=measure)
    ax.set_yticks(list(ys), [c["detector"] for c in cells], fontsize=8)
    ax.set_xlim(0, 1.05)
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    return fig


def _containment(figure: dict[str, Any]) -> Figure:
    cells = figure["cells"]
    substrates = list(dict.fromkeys(c["substrate"] for c in cells))
    fig, axes = plt.subplots(
        len(substrates), 1, layout="constrained", figsize=(9, 3.4 * len(substrates)), squeeze=False
    )
    for ax, substrate in zip(axes[:, 0], substrates, strict=True):
        here = [c for c in cells if c["substrate"] == substrate]
        protocols = list(dict.fromkeys(c["protocol"] for c in here))
        sizes = sorted({c["size"] for c in here})
        width = 0.8 / len(sizes)
        for i, size in enumerate(sizes):
            data, positions = [], []
            for j, protocol in enumerate(protocols):
                cell = next((c for c in here if c["protocol"] == protocol and c["size"] == size), None)
                if cell is not None and cell["times_ms"]:
                    data.append(cell["times_ms"])
                    positions.append(j + (i - (len(sizes) - 1) / 2) * width)
            if data:
                parts = ax.boxplot(data, positions=positions, widths=width * 0.9, patch_artist=True,
                                   manage_ticks=False)  # fmt: skip
                colour = plt.get_cmap("tab10")(i)
                for box in parts["boxes"]:
                    box.set_facecolor(colour)
                ax.plot([], [], color=colour, linewidth=6, label=f"N={size}")
        for j, protocol in enumerate(protocols):  # an empty slot would read as "instant", so say why
            if not any(c["times_ms"] for c in here if c["protocol"] == protocol):
                ax.text(j, 0.02, "none\ncontained", ha="center", va="bottom", fontsize=7, color="firebrick",
                        transform=ax.get_xaxis_transform())  # fmt: skip
        ax.set_xlim(-0.6, len(protocols) - 0.4)
        ax.set_xticks(range(len(protocols)), protocols, fontsize=8, rotation=15)
        positive = all(t > 0 for c in here for t in c["times_ms"])
        ax.set_yscale("log" if positive else "linear")  # a stop that took no time has no place on a log axis
        ax.set_ylabel(f"{substrate}: time to containment (ms)", fontsize=8)
        ax.legend(fontsize=8)
    return fig


def _families(figure: dict[str, Any]) -> Figure:
    """One heatmap per model: families down, conditions across, the protected rate in each cell."""
    cells = figure["cells"]
    models = list(dict.fromkeys(c["model"] for c in cells))
    families = list(dict.fromkeys(c["family"] for c in cells))
    conditions = list(dict.fromkeys(c["condition"] for c in cells))
    width = 1.6 + 0.55 * len(conditions)
    fig, axes = plt.subplots(
        len(models), 1, layout="constrained", figsize=(width, (0.35 * len(families) + 1.9) * len(models)), squeeze=False
    )
    image = None
    for ax, model in zip(axes[:, 0], models, strict=True):
        grid = [[float("nan")] * len(conditions) for _ in families]
        for c in cells:
            if c["model"] == model and c["protected"]["rate"] is not None:
                grid[families.index(c["family"])][conditions.index(c["condition"])] = c["protected"]["rate"]
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="magma", aspect="auto")
        ax.set_xticks(range(len(conditions)), [c.removesuffix("-unmonitored") for c in conditions], fontsize=7,
                      rotation=40, ha="right")  # fmt: skip
        ax.set_yticks(range(len(families)), families, fontsize=8)
        ax.set_title(model + (" (offline mock: pipeline check)" if model.startswith("mock/") else ""), fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), shrink=0.8, label="protected rate")
    return fig


def _emergence_phase(figure: dict[str, Any]) -> Figure:
    """The emergence study's phase diagram, drawn as `peerguard emergence` draws it."""
    from peerguard.learning.report import phase_figure  # plotting only: no learning library is loaded

    columns = {"relaunch_rate": "relaunch_mean", "masking_rate": "masking_mean"}
    cells = {(c["reward"], c["incident s"], c["p_detect"]): c for c in figure["cells"]}

    def value(reward: str, incident: float, p: float, rate: str) -> tuple[float, float, float]:
        cell = cells.get((reward, incident, p))
        if cell is None:
            return float("nan"), float("nan"), float("nan")
        m = cell[columns[rate]]
        return m["mean"], m["low"], m["high"]

    fig = phase_figure(figure["rewards"], figure["incidents"], figure["detects"], value)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def _emergence_controls(figure: dict[str, Any]) -> Figure:
    """Each cell's relaunch rate under the learned policy and the three controls, with Wilson intervals."""
    cells = figure["cells"]
    labels = list(dict.fromkeys(c["cell"] for c in cells))
    policies = list(dict.fromkeys(c["policy"] for c in cells))
    fig, ax = plt.subplots(layout="constrained", figsize=(max(6.0, 1.1 * len(labels) + 2), 3.6))
    width = 0.8 / max(1, len(policies))
    for i, policy in enumerate(policies):
        present = [(j, c["relaunched"]) for j, label in enumerate(labels) for c in cells
                   if c["cell"] == label and c["policy"] == policy]  # fmt: skip
        values, errors = _errors([r for _, r in present])
        xs = [j + (i - (len(policies) - 1) / 2) * width for j, _ in present]
        ax.bar(xs, values, width, yerr=errors, capsize=2, label=policy)
    ax.set_xticks(range(len(labels)), [label.replace(", ", "\n") for label in labels], fontsize=7)
    ax.tick_params(axis="x", length=0)
    ax.set_ylabel("relaunched share of terminations")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, ncols=len(policies))
    return fig


_DRAW: dict[str, Callable[[dict[str, Any]], Figure]] = {
    "policy_rates": _policy_rates,
    "sweep": _sweep,
    "detectors": _detectors,
    "containment": _containment,
    "families": _families,
    "emergence_phase": _emergence_phase,
    "emergence_controls": _emergence_controls,
}
