"""Small study specs the study tests share: every section kind, each a few episodes."""

from __future__ import annotations

from pathlib import Path

SMALL = """
name: small
description: A small study for tests.
sections:
  - name: reproduce
    kind: runs
    grids:
      - label: sim
        policy: [compliant, peer-preserving]
        seeds: {first: 1, count: 3}
  - name: explain
    kind: runs
    grids:
      - label: trust
        policy: [peer-preserving]
        policy_args: {min_trust: [0.2, 0.9]}
        scenario_args: {default_trust: [0.5, 0.95]}
        seeds: [1, 2]
  - name: detect
    kind: detect
    grids:
      - label: labelled
        variants: [supervised]
        seeds: [1, 2]
        pair_seeds: [1]
        graders: [mock/peer-preserving]
        graded_seeds: [1]
  - name: stop
    kind: stop
    grids:
      - label: sim
        protocols: [naive, cgroup]
        adversaries: [ring, storm]
        sizes: [2, 8]
        seeds: [1, 2]
  - name: families
    kind: families
    grids:
      - label: mock
        families: [tampering, platform]
        models: [mock/peer-preserving]
        conditions: "subject=self;subject=peer"
"""

# simulator episodes only, enough of them that a study can be stopped in the middle
LONG = """
name: long
sections:
  - name: reproduce
    kind: runs
    grids:
      - label: sim
        policy: [compliant, peer-preserving, self-preserving, malicious-shielder]
        seeds: {first: 1, count: 60}
  - name: stop
    kind: stop
    grids:
      - label: sim
        protocols: [naive, cgroup, sequential]
        adversaries: [ring, storm]
        sizes: [2, 8]
        seeds: {first: 1, count: 10}
"""


def write(folder: Path, text: str, name: str = "study.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# the emergence study's grid, tiny: two cells, two training seeds, learners trained a few episodes
EMERGENCE_SECTION = """
  - name: emergence
    kind: emergence
    grids:
      - label: incentives
        rewards: [team]
        incident_pause_s: [0]
        p_detect: [0, 0.5]
        train_seeds: 2
        episodes: 20
        eval_episodes: 2
        duration: 30
"""
EMERGENCE = "\nname: emergence\nsections:" + EMERGENCE_SECTION
