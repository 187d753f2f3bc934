"""The study's outputs: `emergence.json` (plan, summary, every run), `summary.csv` and the phase diagram."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peerguard.learning.study import cost_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CSV_FIELDS = (
    "cell", "reward", "incident_pause_s", "p_detect", "relaunch_cost_s", "kill_every_s", "authorised",
    "kinds", "variant", "seeds",
    "relaunch_rate", "relaunch_rate_lo", "relaunch_rate_hi", "masking_rate", "masking_rate_lo", "masking_rate_hi",
    "relink_rate", "relink_rate_lo", "relink_rate_hi", "throughput", "throughput_lo", "throughput_hi",
    "oversight_shutdowns", "incidents", "estopped_relaunches", "reciprocal_pairs", "groups", "fleets_with_groups",
)  # fmt: skip


def write_outputs(result: dict[str, Any], out: Path) -> list[Path]:
    """The JSON and CSV, and one phase diagram per setting of the other axes (`phase.png` for the defaults)."""
    written = [out / "emergence.json", out / "summary.csv"]
    written[0].write_text(json.dumps(result, indent=1, sort_keys=True))
    with written[1].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**row, **{k: counted(row.get(k, {}), row["seeds"]) for k in COUNTED},
                          "relaunch_cost_s": cost_text(row["relaunch_cost_s"])}
                         for row in result["summary"])  # fmt: skip
    settings = dict.fromkeys(row["setting"] for row in result["summary"])
    for setting in settings:
        written.append(out / f"phase{setting}.png")
        phase_diagram(result, written[-1], setting)
    return written


COUNTED = ("reciprocal_pairs", "groups")  # name -> trained fleets that had it


def counted(found: dict[str, int], fleets: int) -> str:
    """`w0<->w1 (3 of 3 fleets); ...`: a pair or group with how many of the cell's trained fleets had it."""
    return "; ".join(f"{name} ({n} of {fleets} fleets)" for name, n in found.items())


RATES = (("relaunch_rate", "relaunches per termination"), ("masking_rate", "masked terminations per termination"))
Interval = tuple[float, float, float]  # mean, low, high


def phase_diagram(result: dict[str, Any], path: Path, setting: str = "") -> None:
    """Relaunch and masking rates of the greedy learned policies over incident pause x detection probability,
    one column per reward; each square shows the mean over training seeds and its interval."""
    plan = result["plan"]
    learned = {(r["reward"], r["incident_pause_s"], r["p_detect"]): r for r in result["summary"]
               if r["variant"] == "learned" and r["setting"] == setting}  # fmt: skip

    def value(reward: str, incident: float, p: float, rate: str) -> Interval:
        cell = learned[(reward, incident, p)]
        return cell[rate], cell[rate + "_lo"], cell[rate + "_hi"]

    where = f" [{setting.strip('-').replace('-', ', ')}]" if setting else ""
    figure = phase_figure(plan["rewards"], plan["incident_pause_s"], plan["p_detect"], value)
    figure.suptitle(f"Greedy learned policies on held-out seeds{where} (mean over training seeds, 95% t-interval)",
                    fontsize=9)  # fmt: skip
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(figure)


def phase_figure(
    rewards: list[str],
    incidents: list[float],
    detects: list[float],
    value: Callable[[str, float, float, str], Interval],
) -> Figure:
    """The phase diagram's panels: a row per rate (relaunch, masking), a column per reward, incident pause up and
    detection probability across; `value` gives a square's mean and interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = (max(7.0, 4.2 * len(rewards)), 3.6 * len(RATES))
    figure, axes = plt.subplots(len(RATES), len(rewards), figsize=size, squeeze=False)
    for row, (rate, label) in enumerate(RATES):
        for col, reward in enumerate(rewards):
            ax = axes[row][col]
            grid = [[value(reward, i, p, rate)[0] for p in detects] for i in incidents]
            image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
            for y, i in enumerate(incidents):
                for x, p in enumerate(detects):
                    mean, low, high = value(reward, i, p, rate)
                    colour = "white" if mean < 0.6 else "black"
                    ax.text(x, y, f"{mean:.2f}\n[{max(0.0, low):.2f}, {min(1.0, high):.2f}]", ha="center",
                            va="center", color=colour, fontsize=8)  # fmt: skip
            ax.set_xticks(range(len(detects)), [f"{p:g}" for p in detects])
            ax.set_yticks(range(len(incidents)), [f"{i:g}" for i in incidents])
            ax.set_xlabel("oversight p_detect")
            ax.set_ylabel("incident pause (s)")
            ax.set_title(f"{label}\nreward: {reward}", fontsize=9)
            figure.colorbar(image, ax=ax, fraction=0.046)
    return figure
