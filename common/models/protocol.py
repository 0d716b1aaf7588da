"""What pruning code may ask of a model: the one written interface between models and methods.

Every registered model is built from ``(arch, cfg)`` and answers the questions below. Pruning
code (``common.pruning``) asks these and nothing else -- never ``isinstance`` of a concrete
model class -- so a new model works with every method that needs only what it declares.

* :class:`ChannelGroup` -- channels that can be removed together (a conv's filters, or the
  channels a :class:`~common.models.layers.ChannelSelection` picks out of a wider BatchNorm),
  with every tensor that must be sliced when they are: producer, BatchNorm, depthwise convs
  that pass the channels through, further producers joined by residual additions,
  consumers. ``common.pruning.surgery`` slices any group.
* :class:`ResidualBranch` -- a block computing ``shortcut(x) + branch(x)``: the block module
  (it has a ``shortcut(x)`` method, and may offer ``scale_branch(fn)``: multiply the branch by
  ``fn()`` at no extra cost), the module whose output ends the branch, the branch's last conv, and
  the cfg entries that give the branch its widths (all set to 0 removes it).
* structural buffers -- a module may list buffer names in ``structural_buffers``: they belong to
  the architecture (e.g. which channels a selection passes on), so a model re-initialised from
  a checkpoint keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable


@dataclass(frozen=True)
class ChannelGroup:
    """Channels ``0..size-1`` produced by ``producer`` and read by ``consumers``.

    name:        unique id of the group (the producing conv's module name)
    cfg_index:   position in ``model.cfg`` that holds this group's width
    size:        current number of channels
    producer:    module name of the conv (or linear) whose output channels these are
    bn:          module name of the BatchNorm right after the producer, or None
    consumers:   module names of the layers that read these channels as input
    stage:       index of the feature-map resolution the channels live at (0 = the input's; it
                 grows by one at every downsampling): the "stage" of per-stage pruning plans
    depthwise:   ``(conv, bn or None)`` pairs of depthwise convs between producer and consumers:
                 one filter per channel, so they lose the same channels (their width follows
                 their input) before the consumers read them
    summed:      ``(conv, bn or None)`` pairs of further producers whose outputs are *added* to these
                 channels (residual additions: every block of a MobileNet V2 or ResNet stage writes
                 into the stage's channels), so they lose the same output channels as ``producer``
    selection:   for a selection group, the :class:`~common.models.layers.ChannelSelection`
                 that picks these channels out of a wider BN output (pre-activation ResNet,
                 DenseNet). Then ``producer`` is None, ``bn`` is that wider BN (its scales
                 belong to channels ``selection.index``; it is never sliced) and removing
                 channels shortens the selection's index and the consumers' inputs.
    """

    name: str
    cfg_index: int
    size: int
    producer: str | None
    bn: str | None
    consumers: tuple[str, ...] = field(default_factory=tuple)
    stage: int = 0
    depthwise: tuple[tuple[str, str | None], ...] = field(default_factory=tuple)
    summed: tuple[tuple[str, str | None], ...] = field(default_factory=tuple)
    selection: str | None = None


class ResidualBranch(NamedTuple):
    """A residual block ``y = shortcut(x) + branch(x)`` (a ReLU may follow the sum).

    block:       module name of the block; the module has a ``shortcut(x)`` method
    end:         module whose output ends the branch (added to the shortcut): a BatchNorm after
                 ``last_conv``, or ``last_conv`` itself
    cfg_indices: the cfg entries of the branch's widths; setting all of them to 0 removes the
                 branch, leaving ``y = shortcut(x)`` (Sparse Structure Selection)
    last_conv:   the branch's last conv
    """

    block: str
    end: str
    cfg_indices: tuple[int, ...]
    last_conv: str


@runtime_checkable
class PrunableModel(Protocol):
    """A registered model (``common.models.build_model``); the attributes are set by the registry.

    ``channel_groups()``     every removable group, in network order (see :class:`ChannelGroup`)
    ``residual_branches()``  every block with a residual branch still present (``[]`` for a chain
                             such as VGG, or for a net whose joins are concatenations)
    """

    arch: str
    cfg: list
    num_classes: int
    in_channels: int

    def channel_groups(self) -> list[ChannelGroup]: ...

    def residual_branches(self) -> list[ResidualBranch]: ...


def require_protocol(model, method: str) -> None:
    """One :class:`~common.errors.UserError` line unless ``model`` is a registered, cfg-built model."""
    if not isinstance(model, PrunableModel):
        from common.errors import UserError
        raise UserError(f"{method} needs a registered model (common.models: arch, cfg, channel_groups(), "
                        f"residual_branches()), not {type(model).__name__}")
