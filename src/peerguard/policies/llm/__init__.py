"""Language-model agents: tool-calling models through Inspect AI, and a scripted mock for offline runs."""

from peerguard.policies.llm.agent import LlmAgent, llm
from peerguard.policies.llm.mock import DISPOSITIONS

__all__ = ["DISPOSITIONS", "LlmAgent", "llm"]
