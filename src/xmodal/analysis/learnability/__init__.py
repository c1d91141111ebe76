"""Learnability check (issue 10): before a long run, is the class learnable at this scale, and by what?"""

from xmodal.analysis.learnability.inputs import InputConfig, load_inputs
from xmodal.analysis.learnability.probes import TrainConfig
from xmodal.analysis.learnability.table import TableConfig, format_markdown, learnability_table

__all__ = ["InputConfig", "TableConfig", "TrainConfig", "format_markdown", "learnability_table", "load_inputs"]
