"""The no-flag fit on a real table: Debian's package index.

The table is built from the package index that ``apt-get update`` leaves on
this machine (``/var/lib/apt/lists/*_Packages.lz4``, read through
``apt-helper cat-file``; ``/var/lib/dpkg/status`` when there is none): one
row per binary package, sampled evenly over the index (a few thousand rows),
with the columns a new user would export. The target is the package's
``Section`` (utils, libs, python, devel, ...: the sections with at least 20
packages in the sample: 25 classes from 2,000 rows). The columns:

- ``package``: the package's name (a code: ``python3-numpy``, ``libssl3``);
- ``description``: its one-line synopsis (prose);
- ``depends``: the names of the packages it depends on (a token list);
- ``homepage``: the host of its homepage (``github.com``, ``www.gnu.org``);
- ``priority``: optional, important, ... (a small categorical);
- ``arch_all``, ``multi_arch``: True/False, the latter with missing cells;
- ``installed_size``, ``size``: counts (KiB and bytes).

Three models are fitted on the same stratified training rows and scored on
the same test rows, in one run:

1. the no-flag fit: roles inferred by :func:`mmensemble.infer_column_roles`,
   the automatic fusion of their default models (``build_estimator("auto",
   roles)``, what ``mmensemble fit --target section`` builds);
2. a hand baseline: word TF-IDF of the description, token TF-IDF of the
   dependencies, character TF-IDF of the name, one-hot of the host, priority
   and flags, standardised log counts, one ``LogisticRegression``;
3. the same no-flag fit with the role rules of ``main`` before the role
   registry (``mmensemble/cli/_roles.py`` of the commit before the registry
   replaced it, as ``git show`` gives it, loaded from a temporary folder):
   the same encoders and fusion, other roles.

It prints the role table of both rule sets, each model's test accuracy and
macro-F1, the fit seconds, and the accuracy ratios against the hand baseline.

Usage::

    python benchmarks/real_table.py --rows 2000     # the README's figures
    python benchmarks/real_table.py --quick         # 600 rows, TF-IDF text
"""

import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from _timing import machine
from sklearn.compose import make_column_transformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mmensemble import infer_column_roles
from mmensemble.cli._recipes import build_estimator, check_roles
from mmensemble.roles import roles_from_table

MIN_CLASS_ROWS = 20
_VERSION = re.compile(r"\(.*?\)|\[.*?\]|<.*?>")


# The commit whose ``mmensemble/cli/_roles.py`` holds the role rules from before
# the role registry (the parent of the commit that replaced it).
RULES_BEFORE_REGISTRY = "821a263^"


def index_text():
    """The text of the package index on this machine."""
    lists = sorted(glob.glob("/var/lib/apt/lists/*_main_binary-*_Packages*"))
    if lists:
        biggest = max(lists, key=os.path.getsize)
        return subprocess.run(
            ["/usr/lib/apt/apt-helper", "cat-file", biggest],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    with open("/var/lib/dpkg/status", encoding="utf-8") as file:
        return file.read()


def parse_index(text):
    """The index's stanzas as dicts of field to value (continuations joined)."""
    stanzas = []
    for block in text.split("\n\n"):
        fields, last = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last is not None:
                fields[last] += " " + line.strip()
            elif ":" in line:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        if "Package" in fields and "Section" in fields:
            stanzas.append(fields)
    return stanzas


def package_table(n_rows):
    """A sample of ``n_rows`` packages as a table, and their sections."""
    stanzas = parse_index(index_text())
    step = max(1, len(stanzas) // n_rows)
    stanzas = stanzas[::step][:n_rows]

    def names(field):
        return " ".join(
            name.strip().split(":")[0]
            for alternative in _VERSION.sub("", field).split(",")
            for name in alternative.split("|")[:1]
            if name.strip()
        )

    rows = [
        {
            "package": fields["Package"],
            "description": fields.get("Description", ""),
            "depends": names(fields.get("Depends", "")) or None,
            "homepage": urlparse(fields["Homepage"]).hostname
            if "Homepage" in fields
            else None,
            "priority": fields.get("Priority"),
            "arch_all": fields.get("Architecture") == "all",
            "multi_arch": None
            if "Multi-Arch" not in fields
            else fields["Multi-Arch"] == "same",
            "installed_size": int(fields.get("Installed-Size", 0)),
            "size": int(fields.get("Size", 0)),
            "section": fields["Section"].rpartition("/")[2],
        }
        for fields in stanzas
    ]
    table = pd.DataFrame(rows)
    counts = table["section"].value_counts()
    table = table[table["section"].isin(counts.index[counts >= MIN_CLASS_ROWS])]
    table = table.reset_index(drop=True)
    return table.drop(columns="section"), table["section"].to_numpy()


def main_role_rules():
    """``infer_column_roles`` as ``main`` had it, loaded from a temporary folder."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = subprocess.run(
        [
            "git",
            "-C",
            repo,
            "show",
            f"{RULES_BEFORE_REGISTRY}:mmensemble/cli/_roles.py",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    source = source.replace("from ..encoders._cells", "from mmensemble.encoders._cells")
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "main_roles.py")
    with open(path, "w", encoding="utf-8") as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("main_roles", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inferred_roles(table, rules):
    """The role mapping of ``rules`` (main's names: numeric columns are tabular)."""
    roles = infer_column_roles(table) if rules is None else rules(table)
    print(roles.to_string(index=False))
    mapping = {}
    for column, role in zip(roles["column"], roles["role"], strict=True):
        if role != "ignored":
            role = "tabular" if role == "numeric" else role
            mapping.setdefault(role, []).append(column)
    return (
        check_roles(mapping)
        if rules is not None
        else check_roles(roles_from_table(roles))
    )


def hand_baseline():
    """TF-IDF of the texts, one-hot of the categories, one logistic regression.

    Missing cells become their own value (an empty text, ``"missing"``).
    """
    return make_pipeline(
        FunctionTransformer(_missing_as_value),
        make_column_transformer(
            (TfidfVectorizer(sublinear_tf=True), "description"),
            (TfidfVectorizer(token_pattern=r"\S+"), "depends"),
            (TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)), "package"),
            (
                OneHotEncoder(handle_unknown="ignore"),
                ["homepage", "priority", "arch_all", "multi_arch"],
            ),
            (
                make_pipeline(FunctionTransformer(np.log1p), StandardScaler()),
                ["installed_size", "size"],
            ),
        ),
        LogisticRegression(C=10, max_iter=3000),
    )


def _missing_as_value(frame):
    texts = frame[["description", "depends", "package"]].fillna("")
    categories = frame[["homepage", "priority", "arch_all", "multi_arch"]]
    categories = categories.astype(object).where(categories.notna(), "missing")
    return pd.concat(
        [texts, categories.astype(str), frame[["installed_size", "size"]]], axis=1
    )


def evaluate(name, model, X_train, y_train, X_test, y_test):
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    predicted = model.predict(X_test)
    result = {
        "model": name,
        "accuracy": accuracy_score(y_test, predicted),
        "macro_f1": f1_score(y_test, predicted, average="macro"),
        "fit_s": seconds,
    }
    print(f"{name}: {result}", flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="600 rows, TF-IDF text")
    parser.add_argument("--n-jobs", type=int, default=None)
    args = parser.parse_args(argv)
    n_rows = 600 if args.quick else args.rows
    text_encoder = "tfidf" if args.quick else "sentence"
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(machine())
    X, y = package_table(n_rows)
    print(f"{len(X)} packages, {len(np.unique(y))} sections")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=1 / 3, stratify=y, random_state=0
    )
    new_roles = inferred_roles(X_train, None)
    old_roles = inferred_roles(X_train, main_role_rules().infer_column_roles)
    results = []
    for name, model in [
        ("hand TF-IDF + one-hot logistic regression", hand_baseline()),
        (
            "no-flag fit (role registry)",
            build_estimator(
                "auto", new_roles, text_encoder=text_encoder, n_jobs=args.n_jobs
            ),
        ),
        (
            "no-flag fit, main's role rules",
            build_estimator(
                "auto", old_roles, text_encoder=text_encoder, n_jobs=args.n_jobs
            ),
        ),
    ]:
        columns = [
            column for _, columns in model_columns(model, X) for column in columns
        ]
        results.append(
            evaluate(name, model, X_train[columns], y_train, X_test[columns], y_test)
        )
    table = pd.DataFrame(results).set_index("model")
    table["accuracy_ratio"] = table["accuracy"] / table["accuracy"].iloc[0]
    print(table.to_string(float_format=lambda value: f"{value:.3f}"))
    return 0


def model_columns(model, X):
    """``(name, columns)`` of the columns a model takes."""
    if hasattr(model, "modalities"):
        return [
            (name, [columns] if isinstance(columns, str) else list(columns))
            for name, _, columns in model.modalities
        ]
    return [("all", list(X.columns))]


if __name__ == "__main__":
    sys.exit(main())
