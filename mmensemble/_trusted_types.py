"""The exact names a model file may refer to, by the way each is rebuilt.

A model file (:mod:`mmensemble._persistence`) is a ``skops`` archive whose
``schema.json`` is a tree of nodes; each node names a ``__loader__`` (how skops
rebuilds it) and a type or function (``__module__`` + ``__class__``).
:func:`mmensemble.load` rebuilds a file only when every node's name is listed
here under its loader, exactly: no module prefix is trusted, because the
packages behind the prefixes hold functions that run strings, write files or
import modules (``numpy.testing.runstring``, ``numpy.save``, ``os.system``...).

A loader that is absent here is never accepted, whatever it names. In
particular the loaders that *call* what they name with arguments from the
file (``ConstructorFromReduceNode``, ``OperatorFuncNode``, ``MethodNode``)
are absent: nothing mmensemble or scikit-learn saves needs them. The loaders
present rebuild data (arrays, containers, random states) or create an object
without calling its class (``ObjectNode``: ``__new__``, then its saved
attributes); the functions listed under ``FunctionNode`` are referenced, not
called, while loading. ``PartialNode`` always builds a
:class:`functools.partial` (skops calls no other class), which binds
arguments to a function without calling it; the function is a node of its
own, accepted only when listed under ``FunctionNode``. Gradient-boosted trees
with categorical features save one (their numeric columns' check,
``partial(check_array, ...)``).

The names are those that the fitted models of every fusion strategy, task and
default encoder save (:func:`mmensemble.cli._recipes.build_estimator`), and
those of common scikit-learn heads and transformers (trees, forests, boosting,
neighbours, SVMs, linear models, scalers, encoders, PCA). A model whose file
needs another name is refused by :func:`mmensemble.save`, which names it: add
it here, under its loader, after checking that rebuilding it runs nothing
(``tests/test_persistence.py`` lists every loader of the files of every fusion
estimator, and refuses tampered ones).

``sklearn.tree._tree.Tree`` and
``sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor`` (which
skops leaves out of its defaults) hold node arrays that compiled code follows
without bounds checks; :mod:`mmensemble._model_trees` checks those arrays
before anything is built.
"""

__all__ = ["TRUSTED"]

#: Estimators, transformers and their parts (scikit-learn's losses and links
#: of every task, not only those of the fits above), created with
#: ``cls.__new__`` and given their saved attributes (``ObjectNode``).
MMENSEMBLE_OBJECTS = frozenset(
    {
        "mmensemble.cli._recipes.RoleModel",
        "mmensemble.encoders._audio.MFCCEncoder",
        "mmensemble.encoders._image.ImageEncoder",
        "mmensemble.encoders._signal.SignalEncoder",
        "mmensemble.encoders._text.TextEncoder",
        "mmensemble.encoders._video.VideoEncoder",
        "mmensemble.encoders._whisper.WhisperEncoder",
        "mmensemble.fusion._auto.AutoFusionClassifier",
        "mmensemble.fusion._auto.AutoFusionRegressor",
        "mmensemble.fusion._early.FeatureFusion",
        "mmensemble.fusion._fusion_net.FusionNetClassifier",
        "mmensemble.fusion._fusion_net.FusionNetRegressor",
        "mmensemble.fusion._head_selection.HeadSelectionClassifier",
        "mmensemble.fusion._head_selection.HeadSelectionRegressor",
        "mmensemble.fusion._categorical_trees.CategoricalTrees",
        "mmensemble.fusion._heads.TunedLogisticRegression",
        "mmensemble.fusion._stacking.ModalityStackingClassifier",
        "mmensemble.fusion._stacking.ModalityStackingRegressor",
        "mmensemble.fusion._voting.ModalityVotingClassifier",
        "mmensemble.fusion._voting.ModalityVotingRegressor",
        "mmensemble.inspection._conformal.ConformalScores",
        "mmensemble.inspection._novelty.ModalityNovelty",
        "mmensemble.inspection._novelty._EmbeddingSummary",
        "mmensemble.roles._numbers.WrittenNumbers",
    }
)

#: skrub's encoders of the datetime and string roles (:mod:`mmensemble.roles`)
#: and their parts, created like the estimators above (``ObjectNode``). The
#: roles use these single encoders, not ``TableVectorizer``, whose saved form
#: refers to skrub functions.
SKRUB_OBJECTS = frozenset(
    {
        "skrub._datetime_encoder.DatetimeEncoder",
        "skrub._datetime_encoder._CircularEncoder",
        "skrub._string_encoder.StringEncoder",
        "skrub._to_datetime.ToDatetime",
        "skrub._to_str.ToStr",
    }
)
SKLEARN_OBJECTS = frozenset(
    {
        "sklearn._loss.link.HalfLogitLink",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.AbsoluteError",
        "sklearn._loss.loss.ExponentialLoss",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfGammaLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.HalfTweedieLoss",
        "sklearn._loss.loss.HalfTweedieLossIdentity",
        "sklearn._loss.loss.HuberLoss",
        "sklearn._loss.loss.PinballLoss",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.calibration._TemperatureScaling",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.decomposition._pca.PCA",
        "sklearn.decomposition._truncated_svd.TruncatedSVD",
        "sklearn.dummy.DummyClassifier",
        "sklearn.dummy.DummyRegressor",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.feature_selection._univariate_selection.SelectKBest",
        "sklearn.impute._base.SimpleImputer",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.linear_model._coordinate_descent.ElasticNet",
        "sklearn.linear_model._coordinate_descent.Lasso",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._logistic.LogisticRegressionCV",
        "sklearn.linear_model._ridge.Ridge",
        "sklearn.linear_model._ridge.RidgeCV",
        "sklearn.linear_model._ridge.RidgeClassifierCV",
        "sklearn.linear_model._stochastic_gradient.SGDClassifier",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.model_selection._split.PredefinedSplit",
        "sklearn.neighbors._classification.KNeighborsClassifier",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._regression.KNeighborsRegressor",
        "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
        "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.MinMaxScaler",
        "sklearn.preprocessing._data.RobustScaler",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._encoders.OrdinalEncoder",
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.preprocessing._label.LabelBinarizer",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.preprocessing._polynomial.PolynomialFeatures",
        "sklearn.svm._classes.LinearSVC",
        "sklearn.svm._classes.SVC",
        "sklearn.svm._classes.SVR",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._classes.ExtraTreeRegressor",
    }
)

#: Arrays (``numpy.ndarray``, read with ``allow_pickle=False``) and numpy
#: scalars (their class is called with the scalar's 0-d array).
ARRAY_TYPES = frozenset(
    {
        "numpy.bool",
        "numpy.float32",
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "numpy.uint64",
        "numpy.float16",
        "numpy.int32",
        "numpy.int8",
        "numpy.uint8",
    }
)

#: Types referred to as values, e.g. ``dtype=np.float64`` (``TypeNode``).
TYPES = frozenset(
    {
        "builtins.float",
        "builtins.int",
        "builtins.str",
        "numpy.float64",
        "numpy.int64",
        "builtins.bool",
        "numpy.float32",
        "numpy.int32",
    }
)

#: Functions referred to as values, e.g. ``SelectKBest(score_func=f_classif)``
#: (``FunctionNode``); the estimator calls them on its data later.
FUNCTIONS = frozenset(
    {
        "numpy.expm1",
        "numpy.log1p",
        "sklearn.utils.validation.check_array",
        "sklearn.feature_selection._univariate_selection.chi2",
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.feature_selection._univariate_selection.f_regression",
    }
)

TRUSTED = {
    "ObjectNode": MMENSEMBLE_OBJECTS | SKLEARN_OBJECTS | SKRUB_OBJECTS,
    "NdArrayNode": ARRAY_TYPES,
    "TypeNode": TYPES,
    "FunctionNode": FUNCTIONS,
    "PartialNode": frozenset({"functools.partial"}),
    "DTypeNode": frozenset({"numpy.dtype"}),
    "DictNode": frozenset(
        {"builtins.dict", "collections.OrderedDict", "sklearn.utils._bunch.Bunch"}
    ),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    "JsonNode": frozenset({"builtins.str"}),
    "SliceNode": frozenset({"builtins.slice"}),
    "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
    "RandomGeneratorNode": frozenset({"numpy.random._generator.Generator"}),
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
    "LossNode": frozenset(
        {
            "sklearn._loss._loss.CyAbsoluteError",
            "sklearn._loss._loss.CyExponentialLoss",
            "sklearn._loss._loss.CyHalfBinomialLoss",
            "sklearn._loss._loss.CyHalfGammaLoss",
            "sklearn._loss._loss.CyHalfMultinomialLoss",
            "sklearn._loss._loss.CyHalfPoissonLoss",
            "sklearn._loss._loss.CyHalfSquaredError",
            "sklearn._loss._loss.CyHalfTweedieLoss",
            "sklearn._loss._loss.CyHalfTweedieLossIdentity",
            "sklearn._loss._loss.CyHuberLoss",
            "sklearn._loss._loss.CyPinballLoss",
            "sklearn.linear_model._sgd_fast.EpsilonInsensitive",
            "sklearn.linear_model._sgd_fast.Hinge",
            "sklearn.linear_model._sgd_fast.ModifiedHuber",
            "sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive",
            "sklearn.linear_model._sgd_fast.SquaredHinge",
        }
    ),
    "SparseMatrixNode": frozenset(
        {
            "scipy.sparse._csc.csc_matrix",
            "scipy.sparse._csr.csr_array",
            "scipy.sparse._csr.csr_matrix",
        }
    ),
}
