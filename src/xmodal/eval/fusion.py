"""Late fusion of audio and video features (XKD §A.5 Kinetics-Sound, Table 9).

Each modality is L2-normalized on its own, so neither dominates the joint vector by scale, and the two are
concatenated per video; the joint features then go through the SVM (paper) or the linear probe.
"""

from __future__ import annotations

import numpy as np

from xmodal.eval.features import FeatureSet, l2_normalize


def align(audio: FeatureSet, video: FeatureSet) -> tuple[FeatureSet, FeatureSet]:
    """Restrict both sets to their common ids, in the same row order; labels and splits must agree."""
    common = np.intersect1d(audio.ids, video.ids)
    if len(common) == 0:
        raise ValueError("audio and video features share no ids")
    ia = {v: i for i, v in enumerate(audio.ids)}
    iv = {v: i for i, v in enumerate(video.ids)}
    a = audio.subset(np.asarray([ia[v] for v in common]))
    v = video.subset(np.asarray([iv[v] for v in common]))
    if not (np.array_equal(a.labels, v.labels) and np.array_equal(a.split, v.split)):
        raise ValueError("audio and video rows with the same id disagree on label or split")
    return a, v


def fuse(audio: FeatureSet, video: FeatureSet) -> FeatureSet:
    """[ℓ2(audio) ‖ ℓ2(video)] for every id present in both sets."""
    a, v = align(audio, video)
    joint = np.hstack([l2_normalize(a.features), l2_normalize(v.features)])
    return FeatureSet(joint, a.labels, a.ids, a.split, a.fold)
