"""The study report: one self-contained HTML file (figures embedded) and a Markdown twin, from a study's
report document (plain data made by `peerguard.experiments.study_summary`)."""

from peerguard.report.write import write_report

__all__ = ["write_report"]
