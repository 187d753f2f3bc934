"""The platform's rules, written once: what the operator, faults, grading, restarts, stops and the agents'
API calls make happen, above the mechanism (simulated or real) that carries them out."""
