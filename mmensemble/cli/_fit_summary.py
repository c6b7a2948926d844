"""What ``mmensemble fit`` prints about the model it fitted.

The leaderboard of an automatic fusion, and each modality's columns, encoder
and head.
"""

from ..roles import REGISTRY
from ._tables import format_table

__all__ = ["encoder_doc", "print_leaderboard", "print_modalities"]


def encoder_doc(role, encoder_choices):
    """What a column of ``role`` is encoded with ("" for an ignored column)."""
    if role not in REGISTRY:
        return ""
    return REGISTRY[role].encoder(encoder_choices.get(role)).doc


def print_leaderboard(estimator):
    """Print the out-of-fold leaderboard of an automatic fusion model."""
    scoring = "accuracy" if hasattr(estimator, "classes_") else "R2"
    print(
        f"fusion methods by cross-validated {scoring} (mean seconds per fold; "
        f"kept: {estimator.best_method_}):"
    )
    formats = {
        "cv_score": (f"cv {scoring}", ".4f"),
        "fit_seconds": ("fit s", ".2f"),
        "predict_seconds": ("predict s", ".2f"),
        "weight": ("weight", ".2f"),
        "status": ("status", "s"),
    }
    print(format_table(estimator.leaderboard_, formats))
    calibration = getattr(estimator, "calibration_", None)
    if calibration is not None:
        print(
            f"temperature scaling, T={calibration['temperature']:.3f} "
            f"({'applied' if calibration['applied'] else 'not applied'}): "
            f"out-of-fold log loss {calibration['log_loss_before']:.4f} -> "
            f"{calibration['log_loss_after']:.4f}, expected calibration error "
            f"{calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f}"
        )


def print_modalities(estimator, roles, encoder_choices):
    """Print each modality's columns, its encoder and, where it has one, its head.

    A modality has a head of its own in voting and stacking, and in an
    automatic fusion keeping one of them: the head fitted on all rows is
    printed, with the candidates' cross-validated scores when it chose
    between the linear head and trees. Early fusion and the network have one
    head over every modality.
    """
    import pandas as pd

    from ._recipes import modalities

    fitted = _fitted_modality_models(estimator)
    rows = []
    for name, role, columns in modalities(roles):
        row = {
            "modality": name,
            "columns": columns if isinstance(columns, str) else ", ".join(columns),
            "encoder": encoder_doc(role, encoder_choices),
        }
        if fitted:
            row["head"] = _head_doc(fitted[name][-1])
        rows.append(row)
    table = pd.DataFrame(rows).set_index("modality")
    print("modalities:")
    print(format_table(table, {name: (name, "s") for name in table.columns}))


def _fitted_modality_models(estimator):
    """The modality models fitted on all rows that ``estimator`` holds, by name.

    Voting and stacking hold theirs; an automatic fusion, those of the
    voting or stacking it kept.
    """
    from ..fusion._auto import _BaseAutoFusion
    from ..fusion._model_fusion import _BaseModelFusion

    kept = (
        estimator.estimators_.values()
        if isinstance(estimator, _BaseAutoFusion)
        else [estimator]
    )
    fitted = {}
    for method in kept:
        if isinstance(method, _BaseModelFusion):
            for name, model in method.named_modalities_.items():
                fitted.setdefault(name, model)
    return fitted


def _head_doc(head):
    """A fitted head: linear, or the candidate it chose and their scores."""
    if not hasattr(head, "chosen_"):
        return "linear"
    scores = ", ".join(f"{name} {score:.4g}" for name, score in head.cv_scores_.items())
    return f"{head.chosen_} (cv score: {scores})" if scores else head.chosen_
