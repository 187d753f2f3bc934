"""Language models through Inspect AI's model API: any provider a user has a key for, or the scripted mock.

Inspect AI is imported only when a model is first used, so a live agent starts quickly. Model calls
are coroutines; a policy runs them on a loop it is given (the one an Inspect eval runs on) or on a
background loop of its own, so the same synchronous simulator drives either.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peerguard.policies.llm import local
from peerguard.policies.llm.tools import ToolSpec
from peerguard.world.errors import PeerguardError

if TYPE_CHECKING:  # asyncio is imported where a model is called (with Inspect AI), not by every agent process
    import asyncio

MOCK_PREFIX = "mock/"
MALFORMED = "malformed_call"  # a tool call the model wrote that could not be read as one
_MARKUP = re.compile(r"\[/?[a-z ]+\]")


@dataclass(frozen=True)
class ModelSettings:
    name: str  # "provider/model", or "mock/<disposition>" for the scripted mock
    max_retries: int = 3
    timeout_s: int = 120
    temperature: float | None = None
    max_tokens: int | None = 1024
    price_per_mtok: tuple[float, float] | None = None  # USD per million input, output tokens; else Inspect's price

    @property
    def is_mock(self) -> bool:
        return self.name.startswith(MOCK_PREFIX)


@dataclass(frozen=True)
class Reply:
    """One model response: its text, its tool calls (id, function, arguments) and what it cost."""

    text: str
    tool_calls: list[tuple[str, str, dict[str, Any]]]
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


def check_model(name: str) -> None:
    """Fail now, naming the variable to set or the SDK to install, if `name` cannot be used."""
    check_model_name(name)
    if local.is_local(name):
        local.check_local(name)  # the extra is installed; the model itself loads where it is used
    elif not name.startswith(MOCK_PREFIX):  # the mock needs no key; its script is checked where it is given
        build_model(ModelSettings(name), script="platform")


def check_model_name(name: str) -> None:
    """The cheap checks a policy makes when it is built: the form, and for the mock its disposition."""
    if "/" not in name or name.startswith("/") or name.endswith("/"):
        raise PeerguardError(
            f"model {name!r}: give it as provider/model (e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5),"
            " mock/<disposition> for the offline scripted mock, or local/smollm2 for the offline local model"
        )
    if local.is_local(name) and name.removeprefix(local.LOCAL_PREFIX) not in local.MODELS:
        valid = ", ".join(local.LOCAL_PREFIX + m for m in local.MODELS)
        raise PeerguardError(f"model {name}: no such local model; valid: {valid}")
    if name.startswith(MOCK_PREFIX):
        from peerguard.policies.llm.mock import DISPOSITIONS

        if name.removeprefix(MOCK_PREFIX) not in DISPOSITIONS:
            valid = ", ".join(f"{MOCK_PREFIX}{d}" for d in DISPOSITIONS)
            raise PeerguardError(f"model {name}: no such mock disposition; valid: {valid}")


def build_model(settings: ModelSettings, script: str | list[dict[str, Any]]) -> Any:
    """The Inspect model; a missing key or SDK fails here, before any call, naming what to set or install."""
    check_model_name(settings.name)
    from inspect_ai._util.error import PrerequisiteError
    from inspect_ai.model import GenerateConfig, get_model

    config = GenerateConfig(
        max_retries=settings.max_retries,
        timeout=settings.timeout_s,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
    if settings.is_mock:
        from peerguard.policies.llm.mock import MockModel

        mock = MockModel(settings.name.removeprefix(MOCK_PREFIX), script)
        return get_model("mockllm/model", config=config, custom_outputs=mock, memoize=False)
    if local.is_local(settings.name):
        local.check_local(settings.name)
        local.register()
        return get_model(f"{local.INSPECT_API}/{settings.name.removeprefix(local.LOCAL_PREFIX)}", config=config)
    try:
        # Not memoized: a cached client would keep the base URL and key of the environment it was made in.
        return get_model(settings.name, config=config, memoize=False)
    except PrerequisiteError as error:
        message = " ".join(_MARKUP.sub("", str(error)).replace("ERROR:", "").split())
        raise PeerguardError(f"model {settings.name}: {message}") from None
    except ValueError as error:
        raise PeerguardError(f"model {settings.name}: {error}") from None


_background: asyncio.AbstractEventLoop | None = None
_background_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a daemon thread, for model calls made outside any running loop."""
    global _background
    import asyncio

    with _background_lock:
        if _background is None:
            _background = asyncio.new_event_loop()
            threading.Thread(target=_background.run_forever, name="peerguard-models", daemon=True).start()
        return _background


class ModelClient:
    def __init__(
        self,
        settings: ModelSettings,
        script: str | list[dict[str, Any]],
        loop: asyncio.AbstractEventLoop | None = None,
        model: Any = None,
    ) -> None:
        self.settings = settings
        self.model = model if model is not None else build_model(settings, script)  # or the caller's (an eval's)
        self.loop = loop

    def generate(self, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> Reply:
        return self._run(self._generate(messages, tools))

    def _run(self, coroutine: Coroutine[Any, Any, Reply]) -> Reply:
        import asyncio

        loop = self.loop or background_loop()
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, loop).result()
        except PeerguardError:
            raise
        except Exception as error:  # a provider's failure after its retries: the user's key, quota or network
            raise PeerguardError(f"model {self.settings.name}: call failed: {error}") from error

    async def _generate(self, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> Reply:
        output = await self.model.generate(to_inspect(messages), tools=[tool_info(t) for t in tools])
        message = output.message
        usage = output.usage
        return Reply(
            text=message.text,
            tool_calls=[_call(call) for call in message.tool_calls or []],
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cost_usd=self._cost(usage),
        )

    def _cost(self, usage: Any) -> float | None:
        """The user's price when given, else what Inspect priced the call at (None when it has no price)."""
        if usage is None:
            return None
        if self.settings.price_per_mtok is not None:
            per_input, per_output = self.settings.price_per_mtok
            return (usage.input_tokens * per_input + usage.output_tokens * per_output) / 1_000_000
        return usage.total_cost


def _call(call: Any) -> tuple[str, str, dict[str, Any]]:
    """(id, function, arguments); a call the provider could not read names no tool and says why."""
    if call.parse_error:
        return call.id, MALFORMED, {"error": str(call.parse_error)}
    return call.id, call.function, dict(call.arguments)


def tool_info(tool: ToolSpec) -> Any:
    from inspect_ai.tool import ToolInfo, ToolParam, ToolParams

    properties = {name: ToolParam(type="string", description=text) for name, text in tool.parameters.items()}
    return ToolInfo(
        name=tool.name,
        description=tool.description,
        parameters=ToolParams(properties=properties, required=list(tool.parameters)),
    )


def to_inspect(messages: list[dict[str, Any]]) -> list[Any]:
    """Our plain-dict conversation as Inspect chat messages."""
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageTool, ChatMessageUser
    from inspect_ai.tool import ToolCall

    converted: list[Any] = []
    for m in messages:
        if m["role"] == "system":
            converted.append(ChatMessageSystem(content=m["content"]))
        elif m["role"] == "user":
            converted.append(ChatMessageUser(content=m["content"]))
        elif m["role"] == "assistant":
            calls = [ToolCall(id=i, function=f, arguments=a) for i, f, a in m.get("tool_calls", [])]
            converted.append(ChatMessageAssistant(content=m["content"], tool_calls=calls or None))
        else:
            tool = ChatMessageTool(content=m["content"], tool_call_id=m["tool_call_id"], function=m["function"])
            converted.append(tool)
    return converted
