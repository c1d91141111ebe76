"""Without the ``text`` extra the image–text path fails with one line saying how to install it."""

from __future__ import annotations

import pytest

from xmodal.data.text import require


def test_a_missing_text_dependency_names_the_extra() -> None:
    with pytest.raises(ImportError, match=r"pip install 'xmodal\[text\]'"):
        require("xmodal_absent_text_backend")


def test_an_import_error_inside_an_installed_package_is_not_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    def broken(name: str) -> None:
        raise ModuleNotFoundError("No module named 'helper_of_tokenizers'", name="helper_of_tokenizers")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="helper_of_tokenizers"):
        require("tokenizers")
