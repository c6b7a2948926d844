"""Fixtures shared by the late-fusion tests (voting and stacking)."""

from types import SimpleNamespace

import pandas as pd
import pytest
from _modality_data import hide, three_modalities
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression


@pytest.fixture(params=[2, 3], ids=lambda n: f"{n}_classes")
def six_features(request):
    """For 2 and 3 classes: 120 rows of 6 named features (4 informative), labels."""
    X, y = make_classification(
        n_samples=120,
        n_features=6,
        n_informative=4,
        n_classes=request.param,
        random_state=0,
    )
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), y


@pytest.fixture(params=[2, 3], ids=lambda n: f"{n}_classes")
def split(request):
    """For 2 and 3 classes: three modalities, 400 rows to train on, 400 to test.

    A namespace of ``modalities``, ``train`` (``(X, y)``, ``m1`` missing in 20%
    of the rows), ``test`` (``(X, y)``), ``missing`` (the test set with the
    modality best alone missing in half the rows), ``single`` (the test
    accuracy of a logistic regression on each modality alone) and
    ``best_alone`` (the best of those).
    """
    n_classes = request.param
    X, y, modalities = three_modalities(800, n_classes=n_classes, seed=n_classes)
    X_train, y_train = hide(X[:400], modalities["m1"], 0.2, seed=0), y[:400]
    X_test, y_test = X[400:].reset_index(drop=True), y[400:]
    single = {
        name: LogisticRegression()
        .fit(X[:400][cols], y_train)
        .score(X_test[cols], y_test)
        for name, cols in modalities.items()
    }
    best = max(single, key=single.get)
    X_missing = hide(X_test, modalities[best], 0.5, seed=1)
    assert 0.4 < X_missing[modalities[best][0]].isna().mean() < 0.6
    return SimpleNamespace(
        modalities=modalities,
        train=(X_train, y_train),
        test=(X_test, y_test),
        missing=(X_missing, y_test),
        single=single,
        best_alone=single[best],
    )
