"""Synthetic Modality-Venn-Diagram audio-visual benchmark (issue 2 §5; design in docs/synthetic.md)."""

from xmodal.data.synth.config import SynthConfig, SynthConfigError
from xmodal.data.synth.generate import generate

__all__ = ["SynthConfig", "SynthConfigError", "generate"]
