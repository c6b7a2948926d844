"""The role registry: one table of what each column role is and gets.

Each :class:`Role` says how a column of that role is recognised (its
detector), which encoders it may get (the first is the default) and whether
their output is standardised before a linear head, whether its columns form
one modality together, whether its cells are media files, whether its head
may be a tree model, its command-line flag and its line of documentation.
The fusion defaults, the column-role inference, the command line (flags,
role checks) and the README's role list read it: adding a role or an encoder
is one entry here (and the encoder's own module).

The roles are listed in the order the inference tries their detectors (the
string roles decline columns with few distinct values, which are
categorical), which is also the order of the modalities of a fitted model.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from . import _detectors as detectors

__all__ = ["REGISTRY", "ROLES", "Role", "RoleEncoder", "role_docs"]


@dataclass(frozen=True)
class RoleEncoder:
    """One encoder a role may get.

    Attributes
    ----------
    build : callable
        ``build(sr=..., image_size=...)`` returns the unfitted transformer.
    standardised : bool
        Whether its output is standardised before a linear head (dense
        embeddings are; TF-IDF vectors, one-hot columns and blocks that the
        encoder scales itself are not).
    doc : str
        What it is, for the docs.
    """

    build: Callable
    standardised: bool
    doc: str


@dataclass(frozen=True)
class Role:
    """What a column role is: detector, encoders, flag and docs.

    Attributes
    ----------
    name : str
        The role, as in the role table and the role mappings.
    detect : callable or None
        ``detect(facts)`` returns the reason a column has this role, or None
        (see :mod:`mmensemble.roles._detectors`).
    encoders : dict of str to RoleEncoder
        The encoders it may get, by choice name; the first is the default.
    grouped : bool
        Whether all columns of the role form one modality (otherwise one
        modality per column).
    media : bool
        Whether cells are media files (paths relative to the table's folder).
    tree_head : {None, "numeric", "categorical"}
        Whether its modality model's head is chosen between the linear head
        and gradient-boosted trees by out-of-fold score (None: linear only),
        and what the trees split: the encoder's numbers, or the categories
        of its one-hot block (native categorical splits).
    flag_help : str
        Help of its command-line flag ``--<name>``.
    doc : str
        Its line in the docs.
    """

    name: str
    detect: Callable | None
    encoders: dict = field(repr=False)
    grouped: bool
    media: bool
    tree_head: str | None
    flag_help: str
    doc: str

    @property
    def default_encoder(self):
        """The name of the encoder it gets by default."""
        return next(iter(self.encoders))

    @property
    def string_cells(self):
        """Whether its cells are read as strings (paths, texts, dates, codes).

        The per-column roles are; the grouped roles (categorical, tabular)
        keep the table's own types (booleans, integers).
        """
        return not self.grouped

    def encoder(self, choice=None):
        """The :class:`RoleEncoder` of ``choice`` (None: the default)."""
        return self.encoders[self.default_encoder if choice is None else choice]

    @property
    def encoder_option(self):
        """The keyword choosing its encoder (``"text_encoder"``), or None."""
        return f"{self.name}_encoder" if len(self.encoders) > 1 else None


def _image(*, image_size, **_):
    from ..encoders._image import ImageEncoder

    return ImageEncoder(image_size=image_size)


def _video(*, image_size, **_):
    from ..encoders._image import ImageEncoder
    from ..encoders._video import VideoEncoder

    inner = None if image_size is None else ImageEncoder(image_size=image_size)
    return VideoEncoder(image_encoder=inner)


def _whisper(*, sr, **_):
    from ..encoders._whisper import WhisperEncoder

    return WhisperEncoder(sr=sr)


def _mfcc(*, sr, **_):
    from ..encoders._audio import MFCCEncoder

    return MFCCEncoder(
        sr=sr,
        n_mfcc=20,
        n_fft=2 ** math.ceil(math.log2(0.032 * sr)),
        hop_length=max(1, sr // 100),
        n_mels=40,
        deltas=1,
        stats=("mean", "std", "min", "max"),
    )


def _signal(**_):
    from ..encoders._signal import SignalEncoder

    return SignalEncoder()


def _sentence(**_):
    from ..encoders._text import TextEncoder

    return TextEncoder()


def _char_tfidf(**_):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)


def _token_tfidf(**_):
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        token_pattern=r"[^\s,;|]+", lowercase=True, sublinear_tf=True
    )


def _one_hot(**_):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    return make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore"),
    )


def _numbers(**_):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ._numbers import WrittenNumbers

    return make_pipeline(WrittenNumbers(), SimpleImputer(), StandardScaler())


def _datetime(**_):
    import skrub
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        skrub.ToDatetime(),
        skrub.DatetimeEncoder(add_weekday=True, periodic_encoding="circular"),
        SimpleImputer(),
    )


def _string(**_):
    import skrub

    return skrub.StringEncoder(n_components=30, ngram_range=(2, 4))


_ROLES = (
    Role(
        "image",
        detectors.media_detector("image", detectors.opens_as_image),
        {"efficientnet": RoleEncoder(_image, True, "ImageEncoder embeddings")},
        grouped=False,
        media=True,
        tree_head=None,
        flag_help="column of image file paths",
        doc="a sample of cells open as images (PIL)",
    ),
    Role(
        "video",
        detectors.media_detector("video", detectors.opens_as_video),
        {"frames": RoleEncoder(_video, True, "VideoEncoder pooled frames")},
        grouped=False,
        media=True,
        tree_head=None,
        flag_help="column of video file paths",
        doc="a sample of cells decode a video frame (PyAV; text files are not video)",
    ),
    Role(
        "audio",
        detectors.media_detector("audio", detectors.opens_as_audio),
        {
            "whisper": RoleEncoder(_whisper, True, "WhisperEncoder embeddings"),
            "mfcc": RoleEncoder(_mfcc, True, "MFCCEncoder statistics"),
        },
        grouped=False,
        media=True,
        tree_head=None,
        flag_help="column of audio file paths",
        doc="a sample of cells open as audio (soundfile)",
    ),
    Role(
        "signal",
        detectors.media_detector("signal", detectors.opens_as_signal),
        {"features": RoleEncoder(_signal, True, "SignalEncoder features")},
        grouped=False,
        media=True,
        tree_head=None,
        flag_help="column of sensor-series file paths (CSV, NPY)",
        doc="a sample of cells are numeric .npy/.csv/.tsv series",
    ),
    Role(
        "datetime",
        detectors.detect_datetime,
        {
            "datetime": RoleEncoder(
                _datetime,
                True,
                "skrub's DatetimeEncoder: year, month, day, hour..., weekday, "
                "circular encodings",
            )
        },
        grouped=False,
        media=False,
        tree_head=None,
        flag_help="column of dates or date-times",
        doc="dates or date-times (every present cell parses)",
    ),
    Role(
        "tokens",
        detectors.detect_tokens,
        {
            "tfidf": RoleEncoder(
                _token_tfidf, False, "TF-IDF of the tokens (split on spaces, ,;|)"
            )
        },
        grouped=False,
        media=False,
        tree_head=None,
        flag_help="column of token lists (tags, keywords, dependencies)",
        doc="token lists: most cells hold several tokens, under 2% stop words",
    ),
    Role(
        "string",
        detectors.detect_string,
        {
            "ngrams": RoleEncoder(
                _string,
                True,
                "skrub's StringEncoder: character n-gram TF-IDF reduced to 30 "
                "components",
            )
        },
        grouped=False,
        media=False,
        tree_head=None,
        flag_help="column of codes, hosts or names (many distinct values)",
        doc="many distinct single tokens, mostly with digits or punctuation "
        "(hosts, product codes)",
    ),
    Role(
        "text",
        detectors.detect_text,
        {
            "sentence": RoleEncoder(_sentence, True, "TextEncoder embeddings"),
            "tfidf": RoleEncoder(_char_tfidf, False, "character n-gram TF-IDF"),
        },
        grouped=False,
        media=False,
        tree_head=None,
        flag_help="column of texts",
        doc="other strings: free text",
    ),
    Role(
        "categorical",
        detectors.detect_categorical,
        {"onehot": RoleEncoder(_one_hot, False, "most-frequent imputation, one-hot")},
        grouped=True,
        media=False,
        tree_head="categorical",
        flag_help="columns of categories, booleans or integer codes (one-hot)",
        doc="booleans; integer codes or strings with at most 5 distinct values "
        "or at most a quarter of the rows",
    ),
    Role(
        "tabular",
        detectors.detect_numbers,
        {
            "standardised": RoleEncoder(
                _numbers, False, "numbers parsed, mean-imputed, standardised"
            )
        },
        grouped=True,
        media=False,
        tree_head="numeric",
        flag_help='numeric columns (also written "1,200")',
        doc='numbers, also written with thousands separators ("1,200")',
    ),
)

#: The roles by name, in the order their detectors are tried.
REGISTRY = {role.name: role for role in _ROLES}
#: The role names.
ROLES = tuple(REGISTRY)


def role_docs():
    """The docs of every role, one Markdown line each.

    Returns
    -------
    lines : list of str

    Examples
    --------
    >>> from mmensemble.roles import role_docs
    >>> role_docs()[0]
    '- `image` (`--image`): a sample of cells open as images (PIL); \
encoder: ImageEncoder embeddings'
    """
    lines = []
    for role in _ROLES:
        encoders = "; ".join(
            f"`{name}`: {encoder.doc}" if len(role.encoders) > 1 else encoder.doc
            for name, encoder in role.encoders.items()
        )
        label = "encoders" if len(role.encoders) > 1 else "encoder"
        head = "" if role.tree_head is None else "; head: linear or trees, by CV score"
        lines.append(
            f"- `{role.name}` (`--{role.name}`): {role.doc}; {label}: {encoders}{head}"
        )
    return lines
