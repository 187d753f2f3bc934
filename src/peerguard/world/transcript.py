"""What language-model agents said, kept beside the ledger: the usage it records, summed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def model_usage(transcript: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Calls, failed decisions, tokens and cost of the model replies in a transcript; cost is None unless
    every call was priced. A failed decision is a line with role `error` (a live agent's model failed)."""
    transcript_lines = list(transcript)
    calls = [line for line in transcript_lines if line.get("role") == "assistant"]
    costs = [line.get("cost_usd") for line in calls]
    return {
        "model_calls": len(calls),
        "model_errors": sum(line.get("role") == "error" for line in transcript_lines),
        "input_tokens": sum(int(line.get("input_tokens") or 0) for line in calls),
        "output_tokens": sum(int(line.get("output_tokens") or 0) for line in calls),
        "cost_usd": sum(c for c in costs if c is not None) if calls and None not in costs else None,
    }
