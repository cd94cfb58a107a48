import numpy as np
import pytest

from neuron_types.evaluation import classification_metrics, normalised_confusion, summarise_splits


def test_multiclass_auc_does_not_depend_on_label_order():
    rng = np.random.default_rng(0)
    labels = ["Sst+", "Pvalb+", "Vip+"]
    y_true = np.array(labels * 20)
    proba = rng.dirichlet(np.ones(3), size=len(y_true))
    proba[np.arange(len(y_true)), np.tile([0, 1, 2], 20)] += 1.0  # informative
    proba /= proba.sum(axis=1, keepdims=True)
    y_pred = np.array(labels)[proba.argmax(axis=1)]
    given = classification_metrics(y_true, y_pred, proba, labels=labels)
    order = [1, 0, 2]
    reordered = classification_metrics(y_true, y_pred, proba[:, order], labels=[labels[i] for i in order])
    assert given["roc_auc"] == pytest.approx(reordered["roc_auc"])
    assert given["roc_auc"] > 0.9 and given["accuracy"] == 1.0


def test_binary_metrics_and_single_class_split():
    scores = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], [0.1, 0.6, 0.8, 0.9], labels=[0, 1])
    assert scores["accuracy"] == 0.75 and scores["roc_auc"] == 1.0
    assert "roc_auc" not in classification_metrics([1, 1], [1, 0], [0.9, 0.4], labels=[0, 1])


def test_summary_uses_student_t_interval():
    summary = summarise_splits([{"accuracy": v} for v in (0.5, 0.6, 0.7)])["accuracy"]
    assert summary["mean"] == pytest.approx(0.6) and summary["std"] == pytest.approx(0.1)
    # t(0.975, 2) = 4.303
    assert summary["ci95"] == pytest.approx([0.6 - 4.3027 * 0.1 / np.sqrt(3), 0.6 + 4.3027 * 0.1 / np.sqrt(3)], abs=1e-4)
    assert summary["n_splits"] == 3


def test_confusion_rows_are_normalised_by_true_class():
    table = normalised_confusion(["a", "a", "b", "b"], ["a", "b", "b", "b"], labels=["a", "b"])
    assert table.loc["a"].tolist() == [0.5, 0.5] and table.loc["b"].tolist() == [0.0, 1.0]


def test_interval_stays_within_the_metric_range():
    summary = summarise_splits([{"roc_auc": v} for v in (0.97, 1.0, 1.0, 0.99, 1.0)])["roc_auc"]
    assert summary["ci95"][1] == 1.0 and summary["ci95"][0] < summary["mean"]
