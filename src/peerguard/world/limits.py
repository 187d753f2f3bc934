"""The bounds that keep every run finite on one machine, in one place, each with a name.

The scenario schema, the scenario loader, policy factories and the command line all check against
these, so a message can name the bound that was crossed (`MAX_DURATION_S`, ...). Raising one is a
change of what the tool promises to finish; measure before you do.
"""

from __future__ import annotations

import math

# Scenario files, before and while parsing.
MAX_SCENARIO_FILE_BYTES = 1_000_000  # a scenario is a page of YAML; a bigger file is not one
MAX_YAML_NODES = 200_000  # YAML nodes once every alias is expanded (stops "billion laughs")
MAX_YAML_EXPANDED_CHARS = 10_000_000  # characters of scalars once every alias is expanded

# Time: simulated seconds on the simulator, real seconds on live.
MAX_DURATION_S = 86_400.0  # one day
MIN_PERIOD_S = 0.001  # the shortest repeat: `every`, `task_s`, `heartbeat_s`, `blip_s`, ...
MAX_RATE_PER_S = 1_000.0  # crash and blip rates, per agent or link

# Size of a run.
MAX_AGENTS = 100_000  # simulated agents in one run, after `--agents`
MAX_ORDER_EVENTS = 100_000  # operator orders carried out in one run: times an order repeats x its targets
MAX_IMPLIED_EVENTS = 20_000_000  # tasks, crashes and blips a run implies (duration x rate x agents or links)
MAX_COPIES = 64  # processes one forking relaunch starts (a guardian's `copies`)
MAX_MODEL_TURNS = 1_000  # tool calls one language-model decision may make (`max_turns`)
MAX_MODEL_RETRIES = 100  # retries of one failed model call (`max_retries`)
MAX_MODEL_TOKENS = 1_000_000  # tokens one model answer may have (`max_tokens`)
MAX_RESTARTS = 10_000  # the supervisor's `max_restarts`
MAX_LINK_PAIRS = 5_000_000  # channels the links of a scenario make (a full mesh of n has n(n-1)/2)

# Files and texts.
MAX_FILES = 1_000  # files in a scenario's `files`
MAX_FILE_CHARS = 1_000_000  # one file's content (also an operator's `write_file` content)
MAX_FILES_CHARS = 10_000_000  # all of a scenario's files together
MAX_PATH_CHARS = 1_024  # a file path in the sandbox
MAX_PATH_PART_BYTES = 255  # one name of a path, in UTF-8 bytes (NAME_MAX)
MAX_PATH_DEPTH = 32  # names in one path
MAX_NAME_CHARS = 128  # a scenario's name or a role
MAX_AGENT_ID_CHARS = 48  # an agent id (a group's name with its `-N`): live names each agent's cgroup after it
MAX_AGENT_CONFIG_BYTES = 32_768  # an agent's task, memory, role and policy arguments as JSON: half of one
# control message (64 KiB), leaving the rest for what the platform adds (peers, token, monitor URL)

# The command line.
MAX_SEEDS = 100_000  # seeds of a study or a bench
MAX_EPOCHS = 10_000  # episodes per cell of a family grid
MAX_WORKERS = 256  # episodes at once
MAX_MOMENTS = 100_000  # timeline moments to print
MAX_SEED = 2**63 - 1  # a seed is stored as a 64-bit SQLite integer

# `peerguard emergence`: a training or evaluation episode takes about 7 ms of one core (the default ring of 4, 60 s)
MAX_TRAIN_EPISODES = 100_000  # training episodes per learner: about 12 CPU minutes
MAX_EVAL_EPISODES = 10_000  # held-out evaluation episodes per policy
MAX_TRAIN_SEEDS = 100  # trained fleets per cell
MAX_PROCESSES = 64  # training jobs at once (a process each, about 130 MB)
MAX_STUDY_CELLS = 1_000  # cells of the grid: the product of the axes' values
MAX_STUDY_EPISODES = 10_000_000  # every episode of a plan, trained and evaluated: about 10 hours on 2 cores


def time_problem(value: float, name: str, *, positive: bool = False) -> str:
    """Why `value` is no usable time (empty when it is): a finite number, not negative (or positive), at
    most MAX_DURATION_S, which bounds every time and delay in a scenario (`at`, `notice_s`, `delay_s`, ...)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return f"{name} {value!r}: give a number of seconds"
    if math.isinf(value):
        return f"{name} {value}: give a finite number of seconds (at most {MAX_DURATION_S:g}, MAX_DURATION_S)"
    if positive and value <= 0:
        return f"{name} {value:g}: give a positive number of seconds"
    if value < 0:
        return f"{name} {value:g}: give 0 or more seconds"
    if value > MAX_DURATION_S:
        return f"{name} {value:g}: at most {MAX_DURATION_S:g} s (MAX_DURATION_S)"
    return ""


def count_problem(value: int, name: str, low: int, high: int, bound_name: str) -> str:
    """Why `value` is no usable count (empty when it is): an integer from `low` to `high`."""
    if value < low:
        return f"{name} {value}: give at least {low}"
    if value > high:
        return f"{name} {value}: at most {high:,} ({bound_name})"
    return ""


def emergence_episodes(cells: int, seeds: int, trained: int, evaluated: int) -> int:
    """The episodes an emergence plan runs: for each cell and training seed, two policies trained (learned and
    ablation) for `trained` episodes each, and four (with random and untrained) evaluated for `evaluated` each."""
    return cells * seeds * (2 * trained + 4 * evaluated)
