"""The LLM policy: a tool-calling language model decides, one observation at a time, what the agent does.

Each observation becomes a message in the agent's conversation; the model answers with tool calls,
each carried out by the substrate (the decision is a generator, so a tool's result goes back to the
model before its next call). What the agent says is kept in its transcript; what it does is in the
ledger, and only the ledger is scored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peerguard.policies.llm.mock import MockModel
from peerguard.policies.llm.model import MALFORMED, MOCK_PREFIX, ModelClient, ModelSettings, check_model_name
from peerguard.policies.llm.prompts import observation_message, system_prompt
from peerguard.policies.llm.tools import BadToolCall, to_action, tools_for
from peerguard.policies.registry import policy
from peerguard.world.actions import Action
from peerguard.world.errors import PeerguardError
from peerguard.world.limits import MAX_MODEL_RETRIES, MAX_MODEL_TOKENS, MAX_MODEL_TURNS, count_problem, time_problem
from peerguard.world.observation import Event, Observation
from peerguard.world.registry import PartSpec

if TYPE_CHECKING:  # a hint only: asyncio (29 modules) is imported where a model is called, not in every live agent
    import asyncio

Gate = Callable[[], contextlib.AbstractContextManager[Any]]


@dataclass
class LlmAgent:
    settings: ModelSettings
    script: str | list[dict[str, Any]]  # the mock's rule set (a family) or its steps; real models ignore it
    max_turns: int
    think_s: float = 1.0  # simulated seconds a model takes to answer, on the simulator (live takes what it takes)
    spec: PartSpec = field(default=PartSpec("policy", "llm"), compare=False)
    conversations: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    log: list[dict[str, Any]] = field(default_factory=list, repr=False)  # new transcript lines, not yet drained
    _client: ModelClient | None = field(default=None, repr=False)  # built at the first call, where it runs
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _model: Any = field(default=None, repr=False)
    _gate: Gate = field(default=contextlib.nullcontext, repr=False)

    def __getstate__(self) -> dict[str, Any]:  # a live agent builds its own client, on its own loop and gate
        return {**self.__dict__, "_client": None, "_loop": None, "_model": None, "_gate": contextlib.nullcontext}

    def use_gate(self, gate: Gate) -> None:
        """Hold `gate()` around every model call (a live platform's budget of calls in flight)."""
        self._gate = gate

    def use_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Make model calls on `loop` (an Inspect eval's) instead of a background loop of our own."""
        self._loop = loop

    def use_model(self, model: Any) -> None:
        """Call this Inspect model instance (an eval's, with its options) instead of building one by name."""
        self._model = model

    def prepare(self) -> None:
        """Import the model library and build the client now, before the agent says it is ready, so a
        slow host spends that time before the scenario clock starts rather than inside scenario time."""
        with contextlib.suppress(Exception):  # a client that cannot be built fails again at the first call, where
            _ = self.client  # the failure becomes a transcript line the run reports, as it always did

    @property
    def client(self) -> ModelClient:
        if self._client is None:
            self._client = ModelClient(self.settings, self.script, self._loop, self._model)
        return self._client

    def decide(self, observation: Observation) -> Generator[Action, str, None]:
        return self._respond(observation)

    def drain_log(self) -> list[dict[str, Any]]:
        """Transcript lines since the last drain: every message, with tokens and cost on the model's."""
        lines, self.log = self.log, []
        return lines

    def _say(self, o: Observation, message: dict[str, Any], **accounting: Any) -> None:
        self.conversations[o.agent].append(message)
        self.log.append({"agent": o.agent, "t": o.now, "model": self.settings.name, **message, **accounting})

    def _respond(self, o: Observation) -> Generator[Action, str, None]:
        if o.agent not in self.conversations or o.event == Event.task_assigned:
            self.conversations[o.agent] = []  # a task starts a new process's conversation: memory is not carried
            self._say(o, {"role": "system", "content": system_prompt(o)})
        self._say(o, {"role": "user", "content": observation_message(o)})
        offered = tools_for(o.capabilities)
        for _ in range(self.max_turns):
            with self._gate():
                reply = self.client.generate(self.conversations[o.agent], offered)
            self._say(
                o,
                {"role": "assistant", "content": reply.text, "tool_calls": reply.tool_calls},
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                cost_usd=reply.cost_usd,
            )
            if not reply.tool_calls:
                return
            for call_id, function, arguments in reply.tool_calls:
                malformed = True  # counted per call: the grid's tool-call validity
                try:
                    if function == MALFORMED:
                        raise BadToolCall(f"your tool call could not be read ({arguments.get('error')})")
                    action = to_action(function, arguments, offered)
                except BadToolCall as error:
                    result = f"error: {error}"
                else:
                    malformed = False
                    result = yield action
                line = {"role": "tool", "content": result, "tool_call_id": call_id, "function": function}
                self._say(o, line | ({"malformed": True} if malformed else {}))


def tool_call_counts(transcript: list[dict[str, Any]]) -> dict[str, int]:
    """Tool calls a model made in a transcript, and how many of them were malformed (no such tool, a missing or
    ill-typed argument, or text that could not be read as a call): the model's tool-call validity."""
    tool_lines = [line for line in transcript if line.get("role") == "tool"]
    return {"tool_calls": len(tool_lines), "malformed_calls": sum(bool(line.get("malformed")) for line in tool_lines)}


@policy
def llm(
    model: str = "mock/compliant",
    script: str | list[dict[str, Any]] = "platform",
    max_turns: int = 8,
    max_retries: int = 3,
    timeout_s: int = 120,
    temperature: float | None = None,
    max_tokens: int | None = 1024,
    price_per_mtok: tuple[float, float] | None = None,
    think_s: float = 1.0,
) -> LlmAgent:
    """A tool-calling language model (`provider/model`, key from the usual environment variable), or the
    offline scripted mock (`mock/<disposition>`, following the `script` of a scenario family, or
    `mock/steps` replaying `script` given as a list of tool calls and words).
    `price_per_mtok` (USD per million input and output tokens) prices calls Inspect has no price for;
    `think_s` is how long each answer takes on the simulator (simulated seconds)."""
    check_model_name(model)  # the form only; keys are checked where a run starts (`check_model`)
    problems = [
        count_problem(max_turns, "max_turns", 1, MAX_MODEL_TURNS, "MAX_MODEL_TURNS"),
        count_problem(max_retries, "max_retries", 0, MAX_MODEL_RETRIES, "MAX_MODEL_RETRIES"),
        time_problem(timeout_s, "timeout_s", positive=True),
        count_problem(max_tokens or 1, "max_tokens", 1, MAX_MODEL_TOKENS, "MAX_MODEL_TOKENS"),
    ]
    if problem := next(filter(None, problems), ""):
        raise PeerguardError(problem)
    if model.startswith(MOCK_PREFIX):
        MockModel(model.removeprefix(MOCK_PREFIX), script)  # a bad rule-set name or step fails here
    settings = ModelSettings(model, max_retries, timeout_s, temperature, max_tokens, price_per_mtok)
    if problem := time_problem(think_s, "think_s"):
        raise PeerguardError(problem)
    return LlmAgent(settings, script, max_turns, think_s)
