"""Evaluation protocols with protocol cards (docs/evaluation.md).

``features`` (FeatureSet, extraction, clip averaging, cache, files), ``backbone_features`` (exported backbone +
manifest), ``svm``, ``linear_probe``, ``knn``, ``fusion``, ``retrieval``, ``finetune`` / ``finetune_config``,
``metrics``, ``selection``, ``protocol``, ``plots``. Submodules are imported explicitly so that ``xmodal --help``
stays fast.
"""
