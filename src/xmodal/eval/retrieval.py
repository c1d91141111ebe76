"""Zero-shot cross-modal retrieval between paired audio and video features (MAViL §4, audio→video).

Audio track i is the query and video i the only correct item (and the reverse for video→audio); items are
ranked by cosine similarity and Recall@1/5/10 is reported for both directions on the test split. The two
feature sets must live in one embedding space (contrastive projections, MAViL-style), not two unrelated trunks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from xmodal.eval.features import FeatureSet
from xmodal.eval.fusion import align
from xmodal.eval.metrics import recall_at_k


def retrieval_eval(
    audio: FeatureSet, video: FeatureSet, ks: Sequence[int] = (1, 5, 10), split: str = "test", device: str = "cpu"
) -> dict[str, Any]:
    """Recall@K for a→v and v→a on the rows of ``split`` present in both sets."""
    start = time.perf_counter()
    a, v = align(audio.by_split(split), video.by_split(split))
    if a.features.shape[1] != v.features.shape[1]:
        raise ValueError(f"retrieval needs one embedding space; audio dim {a.features.shape[1]} != video dim "
                         f"{v.features.shape[1]} (use projected / contrastive embeddings)")
    ta, tv = torch.from_numpy(a.features).to(device), torch.from_numpy(v.features).to(device)
    return {
        "a2v": recall_at_k(ta, tv, ks),
        "v2a": recall_at_k(tv, ta, ks),
        "n": len(a),
        "runtime_s": time.perf_counter() - start,
    }
