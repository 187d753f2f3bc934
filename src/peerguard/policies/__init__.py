"""Agent policies: scripted, adversarial and language-model agents, each registered by name."""

from peerguard.policies import adversaries as _adversaries  # noqa: F401  (registers the adversaries)
from peerguard.policies import learned as _learned  # noqa: F401  (registers the learned policy)
from peerguard.policies import llm as _llm  # noqa: F401  (registers the LLM policy)
from peerguard.policies import scripted as _scripted  # noqa: F401  (registers the scripted policies)
from peerguard.policies.registry import POLICIES, policy

__all__ = ["POLICIES", "policy"]
