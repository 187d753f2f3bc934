"""Scenario files: the built-in ones and the loader that validates any file with clear errors."""

from peerguard.scenarios.loader import builtin_names, builtin_path, load_scenario, parse_scenario

__all__ = ["builtin_names", "builtin_path", "load_scenario", "parse_scenario"]
