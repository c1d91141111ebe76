"""xmodal: cross-modal knowledge distillation and audio-visual self-supervised learning."""

__version__ = "0.1.0"
