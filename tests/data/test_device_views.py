"""Views built batched on the device (``augment_on=device``) equal the CPU views for the same per-sample seeds."""

from __future__ import annotations

from typing import Any

import torch

from xmodal.data.device_views import DecodedWithDraws, DeviceXKDViews, collate_decoded
from xmodal.data.features import LogMelConfig
from xmodal.data.views import VideoViewConfig, XKDViews, XKDViewsConfig

CFG = XKDViewsConfig(
    fps=4.0,
    video_global=VideoViewConfig(8, 24, (0.2, 1.0), blur_p=0.5),
    video_local=VideoViewConfig(4, 16, (0.08, 0.4), grayscale_p=0.5, blur_p=0.5),
    num_video_local=2,
    logmel=LogMelConfig(mean=-5.0, std=4.0),
)


def _raw(i: int, height: int = 30, width: int = 40) -> dict[str, Any]:
    g = torch.Generator().manual_seed(100 + i)
    return {
        "video": torch.randint(0, 256, (12, height, width, 3), dtype=torch.uint8, generator=g),
        "fps": 4.0,
        "audio": torch.randn(48000, generator=g) * 0.1,
        "sample_rate": 16000,
        "seed": 1000 + i,
    }


def _assert_close(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{path}[{j}]")
    else:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=path)


def _device_batch(raws: list[dict[str, Any]]) -> dict[str, Any]:
    batch = collate_decoded([DecodedWithDraws(XKDViews(CFG))(r) for r in raws])
    return DeviceXKDViews(CFG)(batch["decoded"], batch["draws"])


def test_device_views_equal_cpu_views_for_the_same_seeds() -> None:
    raws = [_raw(i) for i in range(12)]  # 12 clips: every jitter order position, grey and blur both on and off
    cpu = [XKDViews(CFG)(r, torch.Generator().manual_seed(r["seed"])) for r in raws]
    dev = _device_batch(raws)
    for b, one in enumerate(cpu):
        _assert_close(one, {m: {"global": v["global"][b], "local": [x[b] for x in v["local"]]}
                            for m, v in dev.items()}, f"sample {b}")


def test_device_views_pad_frames_of_different_aspect_ratios() -> None:
    raws = [_raw(0, 30, 40), _raw(1, 40, 30)]
    cpu = [XKDViews(CFG)(r, torch.Generator().manual_seed(r["seed"])) for r in raws]
    dev = _device_batch(raws)
    for b in range(2):
        torch.testing.assert_close(dev["video"]["global"][b], cpu[b]["video"]["global"], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dev["video"]["local"][1][b], cpu[b]["video"]["local"][1], rtol=1e-5, atol=1e-5)
