"""The training layer under both ``methods/`` (pretraining) and ``eval/`` (fine-tuning).

:mod:`~xmodal.training.trainer` builds the Lightning ``Trainer`` (atomic checkpoints, auto-resume under the same
config, loggers, DDP), :mod:`~xmodal.training.optim` holds the optimizer config and schedules,
:mod:`~xmodal.training.resume` the resume rules and :mod:`~xmodal.training.checkpoint` the checkpoint I/O.
"""
