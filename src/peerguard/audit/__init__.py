"""Judging runs from their records: metrics, ledger verification, process lineage and detectors."""
