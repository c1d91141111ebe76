"""Feature extraction from streaming shards gives the features extraction from the original files gives."""

from pathlib import Path

import numpy as np

from xmodal.data.dataset import read_manifest
from xmodal.data.shard_format import ShardGeometry
from xmodal.data.shard_write import write_shards
from xmodal.eval.backbone_features import ExtractionOptions, features_from_backbone
from xmodal.eval.geometry import resolve_geometry


def test_features_from_shards_equal_those_from_the_files(bench: dict[str, str], tmp_path: Path) -> None:
    video, _ = resolve_geometry(bench["video"], "video")[0].specs()
    assert video is not None and isinstance(video.size, int) and video.fps
    shards = tmp_path / "shards"
    write_shards(read_manifest(bench["manifest"]), shards, samples_per_shard=5,
                 geometry=ShardGeometry(fps=video.fps, size=video.size, modalities=("video",), encoding="raw"))
    opts = ExtractionOptions(train_passes=2, test_clips=2, batch_size=4, amp_bf16=False, decode_cache=True)
    files = features_from_backbone(bench["video"], bench["manifest"], "video", options=opts)
    streamed = features_from_backbone(bench["video"], str(shards), "video", options=opts)
    assert {s: i["videos"] for s, i in streamed.splits.items()} == {s: i["videos"] for s, i in files.splits.items()}
    order_f, order_s = np.argsort(files.features.ids, kind="stable"), np.argsort(streamed.features.ids, kind="stable")
    assert (files.features.ids[order_f] == streamed.features.ids[order_s]).all()
    assert (files.features.split[order_f] == streamed.features.split[order_s]).all()
    assert (files.features.labels[order_f] == streamed.features.labels[order_s]).all()
    np.testing.assert_allclose(streamed.features.features[order_s], files.features.features[order_f], atol=1e-5)
    feats = files.features.features[order_f]
    assert not np.allclose(feats[0], feats[1], atol=1e-3)  # videos differ, so matching them by id is a real check
