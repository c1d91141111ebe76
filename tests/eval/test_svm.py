import warnings
from collections.abc import Callable

import numpy as np
import pytest

from xmodal.eval.features import FeatureSet, l2_normalize
from xmodal.eval.svm import SVMConfig, decision, svm_eval, svm_eval_folds, svm_path


def test_separable_reaches_100(separable: FeatureSet) -> None:
    out = svm_eval(separable, SVMConfig())
    assert out["value"] >= 0.99
    assert out["selection"] == "val" and out["n_train"] == 240


def test_random_labels_stay_at_chance(random_labels: FeatureSet) -> None:
    out = svm_eval(random_labels, SVMConfig(selection="cv", cv_folds=3))
    assert abs(out["value"] - 0.25) < 0.13
    assert out["selection"].endswith("3-fold CV on train")


def test_torch_solver_matches_liblinear_objective(make_toy: Callable[..., FeatureSet]) -> None:
    fs = make_toy(n=200, d=12, k=3, separable=False)
    x = l2_normalize(fs.features)
    costs = [1e-3, 1e-1, 1.0]
    y = np.where(np.eye(3)[fs.labels] > 0, 1.0, -1.0)
    tw = svm_path(x, fs.labels, 3, SVMConfig(backend="torch"), costs)
    sw = svm_path(x, fs.labels, 3, SVMConfig(backend="sklearn"), costs)
    for c, a, b in zip(costs, tw, sw, strict=True):
        obj = [0.5 * (w**2).sum() + c * (np.maximum(0, 1 - y * decision(x, w)) ** 2).sum() for w in (a, b)]
        assert obj[0] == pytest.approx(obj[1], rel=1e-4)


def test_sklearn_backend_names_its_solver(make_toy: Callable[..., FeatureSet]) -> None:
    """LinearSVC's default ``dual`` changed in scikit-learn 1.5 (1.3/1.4 warn): left implicit, the declared floor
    would solve another formulation than a current install. Run at the floor by scripts/test-lowest."""
    fs = make_toy(n=60, d=8, k=3, separable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        svm_path(l2_normalize(fs.features), fs.labels, 3, SVMConfig(backend="sklearn"), [1.0])


def test_trap_cost_is_never_chosen_on_test(make_toy: Callable[..., FeatureSet]) -> None:
    """Test labels poisoned so that another cost looks perfect on test must not move the chosen C."""
    clean = make_toy(n=400, d=16, k=4, separable=True)
    clean.features += np.random.default_rng(1).normal(size=clean.features.shape).astype(np.float32) * 4.0
    cfg = SVMConfig()
    ref = svm_eval(clean, cfg)
    test_rows = clean.split == "test"
    fit = clean.by_split("train", "val")
    xt = l2_normalize(clean.features[test_rows])
    preds = [decision(xt, w).argmax(1) for w in svm_path(l2_normalize(fit.features), fit.labels, 4, cfg)]
    chosen_preds = ref["predictions"].argmax(1)
    bad = int(np.argmax([(p != chosen_preds).mean() for p in preds]))
    assert (preds[bad] != chosen_preds).mean() > 0.02
    poisoned_labels = clean.labels.copy()
    poisoned_labels[test_rows] = preds[bad]
    poisoned = FeatureSet(clean.features, poisoned_labels, clean.ids, clean.split)
    # Choosing C on this test split (the XKD code's rule) would pick the poisoning cost, not the val one:
    test_choice = cfg.costs[int(np.argmax([(p == preds[bad]).mean() for p in preds]))]
    assert test_choice != ref["chosen_C"]
    out = svm_eval(poisoned, cfg)
    assert out["chosen_C"] == ref["chosen_C"]
    assert out["selection_scores"] == ref["selection_scores"]
    np.testing.assert_array_equal(out["predictions"], ref["predictions"])
    assert out["value"] < 1.0


def test_folds_leave_one_out_with_inner_cv_over_remaining_folds(make_toy: Callable[..., FeatureSet]) -> None:
    fs = make_toy(n=200, d=8, k=4)
    fold = np.arange(200) % 5
    data = FeatureSet(fs.features, fs.labels, fs.ids, np.full(200, "train"), fold)
    results = svm_eval_folds(data, SVMConfig(costs=(1e-2, 1.0)))
    assert len(results) == 5 and all(r["n_test"] == 40 and r["value"] >= 0.95 for r in results)
    assert results[0]["selection"].startswith("leave-one-fold-out")
