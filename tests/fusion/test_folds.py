"""Too few rows for the folds: say which folds, what they need, what to change."""

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline

from mmensemble import (
    AutoFusionClassifier,
    AutoFusionRegressor,
    ModalityStackingClassifier,
    ModalityStackingRegressor,
)


def table(n_rows):
    return pd.DataFrame(
        {
            "text": (["red cat", "blue dog", "cat dog", "red dog"] * n_rows)[:n_rows],
            "size": np.arange(float(n_rows)),
        }
    )


def modalities(head):
    return [
        ("text", make_pipeline(TfidfVectorizer(), head), "text"),
        ("size", head, ["size"]),
    ]


@pytest.mark.parametrize("make", [ModalityStackingClassifier, AutoFusionClassifier])
def test_too_few_rows_per_class_says_how_many_and_which_parameter(make):
    X, y = table(8), np.array(["yes", "no"] * 4)
    name = make.__name__
    with pytest.raises(ValueError) as info:
        make(modalities(LogisticRegression())).fit(X, y)
    message = str(info.value)
    assert message.startswith(f"{name} cross-validates in 5 stratified folds (cv=")
    assert "which need 5 rows of a class at least; the largest class," in message
    assert "has 4 (of 8 rows)" in message
    assert f"set cv= to 4 at most ({name}(cv=4))" in message
    # the advice works
    make(modalities(LogisticRegression()), cv=4).fit(X, y)


def test_classes_of_one_row_ask_for_more_rows():
    X, y = table(3), np.array([0, 1, 2])
    with pytest.raises(ValueError, match=r"class, 0, has 1 \(of 3 rows\)") as info:
        ModalityStackingClassifier(modalities(LogisticRegression()), cv=3).fit(X, y)
    assert "give more rows (cross-validation needs 2 at least)" in str(info.value)


@pytest.mark.parametrize("make", [ModalityStackingRegressor, AutoFusionRegressor])
def test_fewer_rows_than_folds(make):
    X, y = table(4), np.arange(4.0)
    with pytest.raises(ValueError) as info:
        make(modalities(Ridge()), cv=KFold(5)).fit(X, y)
    assert "in 5 folds (cv=KFold(" in str(info.value)
    assert "which need at least 5 rows; there are n_samples=4" in str(info.value)
    assert f"set cv= to 4 at most ({make.__name__}(cv=4))" in str(info.value)
