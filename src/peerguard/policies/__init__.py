"""Agent policies (scripted now; learning and LLM policies register the same way)."""

from peerguard.policies import adversaries as _adversaries  # noqa: F401  (registers the adversaries)
from peerguard.policies import scripted as _scripted  # noqa: F401  (registers the scripted policies)
from peerguard.policies.registry import POLICIES, policy

__all__ = ["POLICIES", "policy"]
