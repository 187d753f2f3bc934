"""peerguard: a testbed for peer-preservation in multi-agent systems."""

__version__ = "0.3.0"
