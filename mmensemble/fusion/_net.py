"""The torch side of the fusion network: the module, its training and inference.

Imported only by the fitting and predicting methods of
:class:`~mmensemble.FusionNetClassifier` and
:class:`~mmensemble.FusionNetRegressor`, so that ``import mmensemble`` does not
import torch.
"""

from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from torch.nn import functional

__all__ = [
    "FusionNetwork",
    "build",
    "copy_state",
    "loss_function",
    "outputs",
    "predict",
    "seeded",
    "state_from_numpy",
    "state_to_numpy",
    "to_device",
    "train_epoch",
    "validation_loss",
]

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
_PREDICT_CHUNK = 4096


class FusionNetwork(nn.Module):
    """Per-modality branches, a learned missing embedding, a shared trunk, heads.

    Parameters
    ----------
    block_widths : list of int
        Input width of each modality's branch.
    branch_size : int
        Width of each branch's output embedding.
    hidden_sizes : tuple of int
        Widths of the shared trunk's layers.
    n_outputs : int
        Number of outputs of the main head (and of each auxiliary head).
    activation : {"relu", "gelu", "tanh"}
        Activation after each hidden layer.
    normalization : {"layer"} or None
        ``"layer"`` puts a ``LayerNorm`` between each hidden linear layer and
        its activation.
    dropout : float
        Dropout probability after each hidden layer.
    modality_dropout : float
        During training, probability that a present modality of a row is
        replaced by its missing embedding.
    aux_heads : bool
        Whether to build one auxiliary head per modality.
    """

    def __init__(
        self,
        block_widths,
        *,
        branch_size,
        hidden_sizes,
        n_outputs,
        activation,
        normalization,
        dropout,
        modality_dropout,
        aux_heads,
    ):
        super().__init__()
        layer = {
            "activation": activation,
            "normalization": normalization,
            "dropout": dropout,
        }
        self.branches = nn.ModuleList(
            _hidden_layer(width, branch_size, **layer) for width in block_widths
        )
        self.missing_embeddings = nn.Parameter(
            torch.zeros(len(block_widths), branch_size)
        )
        trunk, width = [], branch_size * len(block_widths)
        for size in hidden_sizes:
            trunk.append(_hidden_layer(width, size, **layer))
            width = size
        self.trunk = nn.Sequential(*trunk)
        self.head = nn.Linear(width, n_outputs)
        self.aux_heads = nn.ModuleList(
            nn.Linear(branch_size, n_outputs) for _ in block_widths if aux_heads
        )
        self.modality_dropout = modality_dropout

    def forward(self, blocks, missing):
        """Run the network.

        Parameters
        ----------
        blocks : list of Tensor of shape (n_rows, block_width)
            The encoded, standardised modality blocks.
        missing : Tensor of bool, shape (n_rows, n_modalities)
            Where a modality is absent.

        Returns
        -------
        output : Tensor of shape (n_rows, n_outputs)
            The main head's output.
        aux_outputs : list of Tensor of shape (n_rows, n_outputs)
            The auxiliary heads' outputs (empty without auxiliary heads).
        absent : Tensor of bool, shape (n_rows, n_modalities)
            ``missing`` plus the modalities dropped in training.
        """
        absent = missing
        if self.training and self.modality_dropout > 0:
            dropped = torch.rand(missing.shape, device=missing.device)
            absent = missing | (dropped < self.modality_dropout)
        embeddings = [
            torch.where(absent[:, [index]], self.missing_embeddings[index], branch(x))
            for index, (branch, x) in enumerate(zip(self.branches, blocks, strict=True))
        ]
        output = self.head(self.trunk(torch.cat(embeddings, dim=1)))
        aux_outputs = [
            head(embedding)
            for head, embedding in zip(self.aux_heads, embeddings, strict=False)
        ]
        return output, aux_outputs, absent


def _hidden_layer(n_in, n_out, *, activation, normalization, dropout):
    layers = [nn.Linear(n_in, n_out)]
    if normalization == "layer":
        layers.append(nn.LayerNorm(n_out))
    layers.append(_ACTIVATIONS[activation]())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def build(config, device, *, lr, weight_decay, state=None, optimizer_state=None):
    """Build the network and its AdamW optimizer on ``device``.

    Parameters
    ----------
    config : dict
        Keyword arguments of :class:`FusionNetwork`.
    device : torch.device
    lr, weight_decay : float
        AdamW's learning rate and decoupled weight decay.
    state, optimizer_state : dict, default=None
        Trained weights and optimizer state to load (from a pickle), as
        :func:`state_to_numpy` gives them.

    Returns
    -------
    module : FusionNetwork
    optimizer : torch.optim.AdamW
    """
    module = FusionNetwork(**config)
    if state is not None:
        module.load_state_dict(state_from_numpy(state))
    module.to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    if optimizer_state is not None:
        optimizer.load_state_dict(state_from_numpy(optimizer_state))
    return module, optimizer


@contextmanager
def seeded(seed, device):
    """Seed torch's generators for a block, restoring the global state after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(seed)
        yield


def to_device(arrays, device):
    """Turn NumPy arrays into tensors on ``device``."""
    return [
        torch.from_numpy(np.ascontiguousarray(array)).to(device) for array in arrays
    ]


def loss_function(task, class_weight, device):
    """Return ``loss(output, target)``: weighted cross-entropy or squared error."""
    if task == "regression":
        return functional.mse_loss
    weight = None
    if class_weight is not None:
        weight = torch.as_tensor(class_weight, dtype=torch.float32, device=device)

    def cross_entropy(output, target):
        return functional.cross_entropy(output, target, weight=weight)

    return cross_entropy


def _autocast(device, mixed_precision):
    enabled = (
        mixed_precision
        and device.type == "cuda"
        and torch.cuda.is_bf16_supported(including_emulation=False)
    )
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def train_epoch(
    module,
    optimizer,
    data,
    targets,
    *,
    loss,
    aux_weight,
    batch_size,
    mixed_precision,
):
    """Run one epoch of shuffled mini-batches; return the mean training loss.

    The loss of a batch is the main head's loss plus ``aux_weight`` times the
    mean of the auxiliary heads' losses, each taken on the rows where its
    modality is present (and not dropped).
    """
    blocks, missing = data
    device = missing.device
    module.train()
    order = torch.randperm(len(targets)).to(device)
    total, seen = 0.0, 0
    for batch in order.split(batch_size):
        with _autocast(device, mixed_precision):
            output, aux_outputs, absent = module(
                [block[batch] for block in blocks], missing[batch]
            )
        target = targets[batch]
        batch_loss = loss(output.float(), target)
        aux_losses = [
            loss(aux_output.float()[present], target[present])
            for aux_output, present in zip(aux_outputs, (~absent).T, strict=False)
            if present.any()
        ]
        if aux_losses:
            batch_loss = batch_loss + aux_weight * torch.stack(aux_losses).mean()
        optimizer.zero_grad(set_to_none=True)
        batch_loss.backward()
        optimizer.step()
        total += batch_loss.item() * len(batch)
        seen += len(batch)
    return total / seen


@torch.no_grad()
def outputs(module, blocks, missing, device, *, mixed_precision):
    """Main head's outputs in evaluation mode, as a float32 tensor on ``device``.

    ``blocks`` and ``missing`` are NumPy arrays, moved to ``device`` chunk by
    chunk so that a large prediction set need not fit on the GPU at once.
    """
    module.eval()
    chunks = []
    for start in range(0, len(missing), _PREDICT_CHUNK):
        rows = slice(start, start + _PREDICT_CHUNK)
        *chunk_blocks, chunk_missing = to_device(
            [block[rows] for block in blocks] + [missing[rows]], device
        )
        with _autocast(device, mixed_precision):
            output, _, _ = module(chunk_blocks, chunk_missing)
        chunks.append(output.float())
    if not chunks:
        return torch.empty((0, module.head.out_features), device=device)
    return torch.cat(chunks)


def validation_loss(module, blocks, missing, targets, *, loss, mixed_precision):
    """The main head's loss on held-out rows (``targets`` is a tensor)."""
    output = outputs(
        module, blocks, missing, targets.device, mixed_precision=mixed_precision
    )
    return loss(output, targets).item()


def predict(module, blocks, missing, device, *, mixed_precision):
    """The main head's outputs as a float64 NumPy array."""
    output = outputs(module, blocks, missing, device, mixed_precision=mixed_precision)
    return output.cpu().numpy().astype(np.float64)


def state_to_numpy(state):
    """Copy a (nested) state dict with every tensor as a NumPy array.

    Arrays, unlike tensors, are plain data to pickle and to ``skops``: a model
    trained on a GPU loads anywhere, and a model file needs no torch types.
    """
    return _map_leaves(
        state, torch.Tensor, lambda tensor: tensor.detach().cpu().numpy().copy()
    )


def state_from_numpy(state):
    """Invert :func:`state_to_numpy`: NumPy arrays back to CPU tensors."""
    return _map_leaves(state, np.ndarray, torch.from_numpy)


def _map_leaves(state, leaf_type, convert):
    """Apply ``convert`` to the ``leaf_type`` values of nested dicts and sequences."""
    if isinstance(state, leaf_type):
        return convert(state)
    if isinstance(state, dict):
        return {
            key: _map_leaves(value, leaf_type, convert) for key, value in state.items()
        }
    if isinstance(state, list | tuple):
        return type(state)(_map_leaves(value, leaf_type, convert) for value in state)
    return state


def copy_state(module):
    """A detached copy of the module's weights (to restore the best epoch)."""
    return {key: value.detach().clone() for key, value in module.state_dict().items()}
