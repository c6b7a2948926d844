"""Tree node arrays in a model file: every link and feature index in range.

Two trusted types keep their trees as plain arrays that compiled code follows
without bounds checks when predicting: scikit-learn's decision trees
(``sklearn.tree._tree.Tree``, in every tree and forest) and the predictors of
``HistGradientBoosting*`` (``TreePredictor``). A tampered array (a child link
past the end or back up the tree, a feature index past the input's columns)
would make the predicting process read outside its memory or loop forever.
The model file check (:mod:`mmensemble._persistence`) reads those arrays
(``allow_pickle=False``) before anything is built and refuses the file unless,
in each tree, every inner node links to two later nodes of the same array and
reads a feature that exists.
"""

import json

import numpy as np

__all__ = ["tree_problems"]

_TREE = "sklearn.tree._tree.Tree"
_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
_BOOSTING = frozenset(
    {
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting."
        "HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting."
        "HistGradientBoostingRegressor",
    }
)


def tree_problems(nodes, subtree, read_array):
    """Describe every tree of a model file whose node array is out of range.

    Parameters
    ----------
    nodes : list of (loader, name, location, state)
        Every node of the schema, as :mod:`mmensemble._persistence` lists them.
    subtree : callable
        ``subtree(state)`` lists the nodes under one node, in the same form.
    read_array : callable
        ``read_array(state)`` returns the array of an ``NdArrayNode`` state,
        read from the file without unpickling.

    Returns
    -------
    problems : list of str
        One sentence per faulty tree, naming where it sits; empty if none.
    """
    problems = []
    for _, name, location, state in nodes:
        try:
            if name == _TREE:
                arguments = state["__reduce__"]["args"]["content"]
                n_features = int(_json_value(arguments[0]))
                array = read_array(_attributes(state)["nodes"])
                problem = _check_links(
                    array,
                    is_leaf=array["left_child"] == -1,
                    left=array["left_child"],
                    right=array["right_child"],
                    feature=array["feature"],
                    n_features=n_features,
                )
                if problem:
                    problems.append(f"the tree at {location} {problem}")
            elif name in _BOOSTING:
                predictors = [
                    (where, predictor)
                    for _, inner, where, predictor in subtree(state)
                    if inner == _PREDICTOR
                ]
                if not predictors:
                    continue  # an unfitted model (a parameter): no tree to follow
                n_features = int(_json_value(_attributes(state)["n_features_in_"]))
                for where, predictor in predictors:
                    problem = _check_predictor(predictor, n_features, read_array)
                    if problem:
                        problems.append(f"the tree at {where} {problem}")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            problems.append(f"the tree at {location} is malformed ({exc!r})")
    return problems


def _check_predictor(state, n_features, read_array):
    attributes = _attributes(state)
    array = read_array(attributes["nodes"])
    is_leaf = array["is_leaf"].astype(bool)
    problem = _check_links(
        array,
        is_leaf=is_leaf,
        left=array["left"],
        right=array["right"],
        feature=array["feature_idx"],
        n_features=n_features,
    )
    if problem:
        return problem
    categorical = ~is_leaf & array["is_categorical"].astype(bool)
    n_bitsets = min(
        len(read_array(attributes[key]))
        for key in ("binned_left_cat_bitsets", "raw_left_cat_bitsets")
    )
    outside = categorical & (array["bitset_idx"].astype(np.int64) >= n_bitsets)
    if outside.any():
        return (
            f"has a categorical split past its {n_bitsets} category sets (node "
            f"{int(np.flatnonzero(outside)[0])})"
        )
    return None


def _check_links(array, *, is_leaf, left, right, feature, n_features):
    """Say what is wrong with a node array's links, or None."""
    n_nodes = len(array)
    if array.ndim != 1 or n_nodes == 0:
        return f"has a node array of shape {array.shape}"
    index = np.arange(n_nodes)
    left, right, feature = (
        column.astype(np.int64) for column in (left, right, feature)
    )
    in_range = (
        (left > index)
        & (left < n_nodes)
        & (right > index)
        & (right < n_nodes)
        & (feature >= 0)
        & (feature < n_features)
    )
    faulty = np.flatnonzero(~is_leaf & ~in_range)
    if faulty.size:
        node = int(faulty[0])
        return (
            f"has a node linking outside its {n_nodes} nodes or reading a feature "
            f"outside its {n_features} (node {node}: children {int(left[node])} "
            f"and {int(right[node])}, feature {int(feature[node])})"
        )
    return None


def _attributes(state):
    """The attribute states of an object node (its ``DictNode`` content)."""
    return state["content"]["content"]


def _json_value(state):
    return json.loads(state["content"])
