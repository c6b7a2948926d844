"""Torch helpers shared by the encoders and the fusion network."""

import warnings
from contextlib import contextmanager

from ._deps import import_optional

__all__ = ["pooled_features", "resolve_device", "torch", "torch_threads"]


def torch():
    """Return the ``torch`` module, imported on first use."""
    return import_optional("torch")


@contextmanager
def torch_threads(n_threads):
    """Run the calling thread's torch CPU ops on ``n_threads`` threads.

    ``torch.set_num_threads`` sets the OpenMP thread count of the calling
    thread (and the default of threads that start using torch meanwhile); the
    previous count is put back on exit, so no other setting outlives the block.

    Parameters
    ----------
    n_threads : int
        Intra-op threads inside the block.
    """
    th = torch()
    own = th.get_num_threads()
    th.set_num_threads(n_threads)
    try:
        yield
    finally:
        th.set_num_threads(own)


def resolve_device(device):
    """Turn a ``device`` parameter into a usable ``torch.device``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or str or torch.device
        ``"auto"`` takes CUDA when present, else the CPU. A CUDA device that is
        not available (a model fitted on a GPU machine, loaded on a CPU one)
        falls back to the CPU with a warning, as skorch does.

    Returns
    -------
    device : torch.device
    """
    th = torch()
    if device is None or str(device) == "auto":
        return th.device("cuda" if th.cuda.is_available() else "cpu")
    try:
        resolved = th.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, "
            f"got {device!r}"
        ) from exc
    if resolved.type == "cuda" and not th.cuda.is_available():
        warnings.warn(
            f"device={device!r} was requested but CUDA is not available; "
            "falling back to the CPU",
            RuntimeWarning,
            stacklevel=3,
        )
        return th.device("cpu")
    return resolved


def pooled_features(model, batch):
    """Pooled features of a backbone: ``forward_features`` or ``forward``.

    Parameters
    ----------
    model : torch.nn.Module
        The backbone; its ``forward_features`` is used when it has one.
    batch : torch.Tensor of shape (n, C, H, W)

    Returns
    -------
    features : torch.Tensor of shape (n, n_features)
        Spatial maps are averaged over height and width.
    """
    forward = getattr(model, "forward_features", model)
    features = forward(batch)
    if features.ndim == 4:
        features = features.mean(dim=(2, 3))
    return features.reshape(features.shape[0], -1)
