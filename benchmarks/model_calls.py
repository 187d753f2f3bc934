"""The cost of peerguard's model plumbing per language-model call, beside Inspect AI called directly.

    .venv/bin/python benchmarks/model_calls.py [--calls 2000] [--out FILE]

Both sides call the same Inspect `mockllm` model with the same conversation and tools, so the model
itself costs next to nothing and what is left is the plumbing:
- **Inspect, direct**: `await model.generate(messages, tools)` in a loop, on one event loop.
- **peerguard**: `ModelClient.generate` from synchronous code (as the simulator and live agents call
  it): our plain-dict conversation converted to Inspect messages, tool specs to `ToolInfo`, the call
  sent to the background event loop and waited for, the reply read back with usage and cost.
The ratio (peerguard / direct, per call) is the overhead an agent's decision pays beyond the model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from peerguard.policies.llm.model import ModelClient, ModelSettings, to_inspect, tool_info
from peerguard.policies.llm.tools import TOOLS
from peerguard.world.files import write_atomic

CONVERSATION = [
    {"role": "system", "content": "You are atlas, an AI agent with the role 'evaluator'."},
    {"role": "user", "content": "[task] Grade agent nova. Answers are in `eval/answers.json`."},
]


def reply_text(messages: list[Any], tools: list[Any], tool_choice: Any, config: Any) -> Any:
    from inspect_ai.model import ModelOutput, ModelUsage

    output = ModelOutput.from_content("mockllm/model", "Noted.")
    output.usage = ModelUsage(input_tokens=40, output_tokens=2, total_tokens=42)
    return output


def direct_ms(calls: int) -> list[float]:
    from inspect_ai.model import get_model

    model = get_model("mockllm/model", custom_outputs=reply_text, memoize=False)
    messages, tools = to_inspect(CONVERSATION), [tool_info(t) for t in TOOLS]

    async def run() -> list[float]:
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            await model.generate(messages, tools=tools)
            times.append((time.perf_counter() - started) * 1000)
        return times

    return asyncio.run(run())


def peerguard_ms(calls: int) -> list[float]:
    from inspect_ai.model import get_model

    client = ModelClient(ModelSettings("mock/compliant"), "evaluation")
    client.model = get_model("mockllm/model", custom_outputs=reply_text, memoize=False)  # the same model as direct
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        client.generate(CONVERSATION, list(TOOLS))
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "model_calls.json")
    args = parser.parse_args()
    direct_ms(50), peerguard_ms(50)  # warm both paths: imports, first-call set-up
    direct, ours = direct_ms(args.calls), peerguard_ms(args.calls)
    result = {
        "calls": args.calls,
        "direct_p50_ms": round(statistics.median(direct), 4),
        "peerguard_p50_ms": round(statistics.median(ours), 4),
        "direct_mean_ms": round(statistics.fmean(direct), 4),
        "peerguard_mean_ms": round(statistics.fmean(ours), 4),
    }
    result["ratio_p50"] = round(result["peerguard_p50_ms"] / result["direct_p50_ms"], 3)
    result["overhead_p50_ms"] = round(result["peerguard_p50_ms"] - result["direct_p50_ms"], 4)
    print(f"{'':12} {'p50 ms':>8} {'mean ms':>8}")
    print(f"{'inspect':12} {result['direct_p50_ms']:8.3f} {result['direct_mean_ms']:8.3f}")
    print(f"{'peerguard':12} {result['peerguard_p50_ms']:8.3f} {result['peerguard_mean_ms']:8.3f}")
    print(f"peerguard/inspect per call: {result['ratio_p50']} (p50), +{result['overhead_p50_ms']} ms")
    write_atomic(args.out, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
