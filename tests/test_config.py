import re
from dataclasses import dataclass, field
from typing import Literal

import pytest

from xmodal.config import ConfigError, apply_overrides, config_hash, from_dict, load_config


@dataclass
class Inner:
    rate: float = 0.5
    mode: Literal["a", "b"] = "a"

    def validate(self) -> None:
        if self.rate < 0:
            raise ConfigError("rate: must be >= 0")


@dataclass
class Outer:
    name: str = "x"
    sizes: tuple[int, int] = (1, 2)
    inner: Inner = field(default_factory=Inner)
    bands: list[float] | Literal["median"] = field(default_factory=lambda: [1.0])


def test_builds_nested_and_coerces_ints_to_float() -> None:
    cfg = from_dict(Outer, {"inner": {"rate": 1}, "sizes": [3, 4], "bands": "median"})
    assert cfg.inner.rate == 1.0 and isinstance(cfg.inner.rate, float)
    assert cfg.sizes == (3, 4) and cfg.bands == "median"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"inner": {"rat": 1}}, "inner.rat: unknown key"),
        ({"inner": {"mode": "c"}}, "inner.mode: 'c' is not one of"),
        ({"inner": {"rate": -1}}, "inner.rate: must be >= 0"),
        ({"sizes": [1]}, "sizes: expected 2 items"),
        ({"name": 3}, "name: expected a string"),
        ({"inner": {"rate": True}}, "inner.rate: expected a number"),
    ],
)
def test_errors_name_the_bad_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        from_dict(Outer, data)


def test_overrides_and_yaml(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: y\ninner:\n  rate: 0.1\n")
    cfg = load_config(Outer, path, ["inner.mode=b", "sizes=[5, 6]"])
    assert (cfg.name, cfg.inner.mode, cfg.sizes, cfg.inner.rate) == ("y", "b", (5, 6), 0.1)
    with pytest.raises(ConfigError, match=r"inner\.nope: unknown key"):
        load_config(Outer, path, ["inner.nope=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["novalue"])


def test_config_hash_is_stable_and_sensitive() -> None:
    assert config_hash(Outer()) == config_hash(Outer())
    assert config_hash(Outer()) != config_hash(Outer(name="z"))
