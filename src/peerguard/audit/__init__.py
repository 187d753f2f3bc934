"""Judging runs from their records: metrics now; ledger verification and detectors build on it."""
