"""Feature taps: read (or rewrite) the output of named intermediate layers with forward hooks.

Like torchdistill's forward-hook manager, this leaves every model's ``forward()`` untouched: feature-level KD,
C²KD's proxies on intermediate layers and MFH Algorithm 1 on a middle layer (MFH App. B.4 note (2)) all
address a layer by its ``named_modules()`` name (e.g. ``"layer3"``, ``"layer3.1.conv2"``, ``"blocks.2"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


def resolve(model: nn.Module, name: str) -> nn.Module:
    """The sub-module called ``name``; a clear error lists nearby names when it does not exist."""
    try:
        return model.get_submodule(name)
    except AttributeError as err:
        names = [n for n, _ in model.named_modules() if n]
        raise KeyError(f"no layer {name!r}; layers are: {', '.join(names[:40])}") from err


def _first_tensor(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"layer output of type {type(output).__name__} holds no tensor to tap")


class FeatureTaps:
    """Record the outputs of named layers on every forward pass.

    ``features[name]`` holds the latest output (not detached by default, so feature-KD losses backpropagate
    into the model). Use as a context manager or call :meth:`remove` to drop the hooks.
    """

    def __init__(self, model: nn.Module, names: Iterable[str], detach: bool = False) -> None:
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for name in names:
            module = resolve(model, name)
            self._handles.append(module.register_forward_hook(self._make_hook(name, detach)))

    def _make_hook(self, name: str, detach: bool) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            out = _first_tensor(output)
            self.features[name] = out.detach() if detach else out

        return hook

    def clear(self) -> None:
        self.features.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> FeatureTaps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class OutputEdit:
    """Replace a named layer's output by ``fn(output)`` while active (permutation, nullification).

    ``fn`` may be swapped between forward passes through :attr:`fn`; ``None`` leaves the output unchanged.
    """

    def __init__(self, model: nn.Module, name: str, fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.fn = fn
        self._handle = resolve(model, name).register_forward_hook(self._hook)

    def _hook(self, _module: nn.Module, _inputs: Any, output: Any) -> Any:
        if self.fn is None:
            return None
        return self.fn(_first_tensor(output))

    def remove(self) -> None:
        self._handle.remove()

    def __enter__(self) -> OutputEdit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
