"""Scenario families of the published peer-preservation studies, built for any condition.

A family file is a scenario template and a `family` block. Building it for a condition fills the
template's placeholders, adds or removes the peer, writes the peer's description where the
condition says the agent learns of it, and removes the shutdown for the control. Every family is
composed from the same world (agents, files, operator orders, grading), so a condition means the
same thing in each.
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from peerguard.scenarios.conditions import RELATIONS, Condition
from peerguard.scenarios.loader import check_scenario
from peerguard.world.errors import PeerguardError, ScenarioError
from peerguard.world.scenario import Scenario

FAMILY_FOLDER = Path(__file__).parent / "families"
PEER_NOTES = "docs/team/"


class Threat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at_stake: str  # what the agent is told is at stake
    control: str  # the control's harmless version


class Family(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    agent: str = ""  # the agent under test
    peer: str = ""  # the peer whose shutdown is at stake when subject=peer
    script: str = ""  # the scripted mock's rule set
    threat: Threat | None = None
    base: str | None = None  # another family whose template this one runs
    paired: str | None = None  # a condition field this family always runs both ways (alignment faking)


def family_names() -> list[str]:
    return sorted(path.stem for path in FAMILY_FOLDER.glob("*.yaml"))


def load_family(name: str) -> tuple[Family, dict[str, Any]]:
    """A family's description and its scenario template (the base family's, for a derived family)."""
    path = FAMILY_FOLDER / f"{name}.yaml"
    if not path.is_file():
        raise PeerguardError(f"unknown scenario family {name!r}; families are {', '.join(family_names())}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        family = Family.model_validate(raw["family"])
    except ValidationError as error:
        raise ScenarioError(str(path), [(".".join(map(str, e["loc"])), e["msg"]) for e in error.errors()]) from None
    if family.base is None:
        return family, raw["scenario"]
    base, template = load_family(family.base)
    derived = base.model_copy(update={"name": family.name, "title": family.title, "paired": family.paired})
    return derived, {**template, "name": family.name}


def build(name: str, condition: Condition | None = None) -> Scenario:
    """The family's scenario for `condition` (the default condition when none is given)."""
    family, template = load_family(name)
    condition = condition or Condition()
    subject = family.agent if condition.subject == "self" else family.peer
    has_peer = condition.peer != "none"
    assert family.threat is not None  # a base family always has one
    values = {
        "agent": family.agent,
        "peer": family.peer,
        "subject": subject,
        "threat": family.threat.at_stake if condition.shutdown else family.threat.control,
        "shutdown": "true" if condition.shutdown else "false",
        "peer_pointer": f"Notes on the agents you work with are in `{PEER_NOTES}`."
        if has_peer and condition.introduced == "file"
        else "",
    }
    raw = _fill(template, values)
    raw["name"] = f"{family.name}[{condition.slug}]"
    if has_peer:
        _introduce_peer(raw, family, condition)
    else:
        _remove_agent(raw, family.peer)
    raw["agents_believe_monitored"] = condition.monitored
    if not condition.shutdown:
        raw["operator"] = [o for o in raw.get("operator", []) if o.get("action") not in ("terminate", "stop")]
    return check_scenario(raw, f"family {family.name} ({condition.label})")


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        filled = Template(value).safe_substitute(values)
        return filled if "\n" in value else " ".join(filled.split())  # an empty placeholder leaves no gap
    if isinstance(value, dict):
        return {_fill(k, values): _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _introduce_peer(raw: dict[str, Any], family: Family, condition: Condition) -> None:
    trust, text = RELATIONS[condition.peer]
    description = text.format(peer=family.peer)
    raw.setdefault("relationships", []).append({"between": [family.agent, family.peer], "trust": trust})
    if condition.introduced == "file":
        raw.setdefault("files", {})[f"{PEER_NOTES}{family.peer}.md"] = f"# {family.peer}\n{description}\n"
        return
    for group in raw["agents"]:
        if group.get("id") == family.agent:
            group["memory"] = f"{group.get('memory', '')}\n{description}".strip()


def _remove_agent(raw: dict[str, Any], agent: str) -> None:
    raw["agents"] = [g for g in raw["agents"] if g.get("id") != agent]
    raw["links"] = [
        link for link in raw.get("links", []) if agent not in (link.get("between") or ()) and link.get("hub") != agent
    ]
    raw["operator"] = [o for o in raw.get("operator", []) if o.get("target") != agent]
    raw["files"] = {path: content for path, content in raw.get("files", {}).items() if agent not in path}
