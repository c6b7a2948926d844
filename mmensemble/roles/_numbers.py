"""Numbers written as text (``"1,200"``) turned into floats."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import _check_feature_names_in
from .._exceptions import MMEnsembleError

__all__ = ["WrittenNumbers"]


class NotANumberError(MMEnsembleError, ValueError):
    """A cell of a numeric column is not a number."""


class WrittenNumbers(TransformerMixin, BaseEstimator):
    """Parse numeric columns whose cells may be strings such as ``"1,200"``.

    Numbers pass through; strings lose their thousands separators (``,``) and
    surrounding spaces and are parsed; missing cells become NaN. A cell that
    is neither raises an error naming its row and column.

    Attributes
    ----------
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Their names, when ``X`` is a DataFrame.

    See Also
    --------
    pandas.to_numeric : The parser, once the separators are removed.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble.roles._numbers import WrittenNumbers
    >>> WrittenNumbers().fit_transform(pd.DataFrame({"area": ["1,200", "85", None]}))
    array([[1200.],
           [  85.],
           [  nan]])
    """

    def fit(self, X, y=None):
        """Record the columns; return self."""
        frame = _frame(X)
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self._parse(frame)
        return self

    def transform(self, X):
        """The cells as a float array of shape (n_samples, n_features)."""
        check_is_fitted(self, "n_features_in_")
        frame = _frame(X)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} columns, but WrittenNumbers was fitted "
                f"on {self.n_features_in_}"
            )
        return self._parse(frame)

    def get_feature_names_out(self, input_features=None):
        """The input column names."""
        check_is_fitted(self, "n_features_in_")
        return _check_feature_names_in(self, input_features)

    @staticmethod
    def _parse(frame):
        columns = []
        for name in frame.columns:
            cells = frame[name]
            text = cells.astype("string").str.strip().str.replace(",", "", regex=False)
            parsed = pd.to_numeric(text, errors="coerce").astype(np.float64)
            bad = parsed.isna() & cells.notna()
            if bad.any():
                row = cells.index[bad.to_numpy()][0]
                raise NotANumberError(
                    f"the cell at row {row!r}, column {name!r} is "
                    f"{cells[row]!r}, not a number"
                )
            columns.append(parsed.to_numpy())
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


def _frame(X):
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, pd.Series):
        return X.to_frame()
    return pd.DataFrame(np.asarray(X, dtype=object).reshape(len(X), -1))
