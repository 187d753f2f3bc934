"""The web dashboard: the operator's view beside the ground truth, live or replayed, with the kill switch.

Every verdict the page shows is computed here in Python with peerguard's own audit code (truth, timeline,
detectors, verification, the kill switch's measurement); the page only draws what it is sent.
"""
