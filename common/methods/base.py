"""What a method declaration holds. A method is described once, by a :class:`Method`; the arms
(``common.arms``), the sequences (``common.sequences``) and the table runner (``common.sweep``)
read nothing else about it.

Every slot is optional. ``args`` is the parsed command line of the entry point, ``ckpt`` a loaded
checkpoint (``common.checkpoint``), ``model`` a registered model (``common.models.protocol``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

Flags = Optional[Callable]      # (parser) -> None: add the method's own flags


@dataclass(frozen=True)
class Training:
    """What a method adds to a training run (``main.py``).

    flags(parser)          its flags (e.g. slimming's ``--sparsity``)
    resolve(args)          fill defaults that depend on other flags (e.g. lambda by arch), before
                           the run folder is named
    hooks(args, model)     engine hooks (``common.engine.Hook``) for the run
    arm                    the run's arm: a name, or ``(args) -> name`` (``"sparsity"`` when the
                           penalty is on, ``"baseline"`` when it is 0)
    variant(args)          the run's variant name for its tag (None: the baseline)
    model(args, info)      the network the run trains (default: the arch at ``--cfg``; MetaPruning: its
                           PruningNet)
    entry                  the recipe file that runs it, in the method's folder
    """

    entry: str = "main.py"
    flags: Flags = None
    resolve: Optional[Callable] = None
    hooks: Optional[Callable] = None
    arm: object = "baseline"
    variant: Optional[Callable] = None
    model: Optional[Callable] = None


@dataclass
class Pruned:
    """What a pruning function returns: the pruned model, JSON-able details for result.json and,
    for an unstructured (or partly unstructured) result, the keep-mask the engine holds."""

    model: object
    report: dict = field(default_factory=dict)
    mask: Optional[dict] = None


@dataclass(frozen=True)
class Pruning:
    """What ``prune.py`` does for the method.

    run(args, model, ckpt, data) -> Pruned   the algorithm (``data.train``, ``data.test`` loaders,
                                             ``data.sample(count)``: class-balanced training batches,
                                             ``data.folder``: the run folder, for what a method keeps
                                             while it runs)
    load(args, ckpt) -> model                the model it prunes (default: the checkpoint's network; MetaPruning:
                                             the PruningNet)
    variant(args, ckpt) -> str               the pruned model's variant name (known before pruning)
    flags(parser), resolve(args, ckpt)       its flags; defaults and checks against the checkpoint
    check(args, model, input_size)           flags that do not fit the model: before any data is read
    prepare(args, model, ckpt) -> model|None  before the flags are checked against the model and it is
                                             evaluated: fold the method's training state into it (SSS block
                                             scales), or return the model it prunes (ResNet-50 with samplers)
    accepts                                  other methods whose trained checkpoints it prunes too
    published                                the paper's pruned architectures, ``{name: (arch, cfg)}``:
                                             ``prune.py --published NAME`` builds one for Scratch-E/B
    """

    run: Callable
    variant: Callable
    load: Optional[Callable] = None
    flags: Flags = None
    resolve: Optional[Callable] = None
    check: Optional[Callable] = None
    prepare: Optional[Callable] = None
    accepts: tuple = ()
    published: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Retraining:
    """What a method adds to fine-tuning or to training from scratch.

    flags(parser); hooks(args, model, ckpt) -> hooks; reinit(args, model, mask): re-initialise a fresh
    masked model for its sparsity (scratch only; the mask is applied either way)
    """

    flags: Flags = None
    hooks: Optional[Callable] = None
    reinit: Optional[Callable] = None


@dataclass(frozen=True)
class Table:
    """The paper's table of the method, for the table runner (``common.sweep``).

    build(t)      adds the steps (``t.train``, ``t.prune``, ``t.retrain``, ``t.sequence``)
    archs         the paper's models, per tree (``{"cifar": [...]}``)
    epochs, ft_epochs   the training and fine-tuning epochs of the recipes (per tree if they differ)
    seeds         how many seeds by default (per tree if they differ)
    flags(parser) the table's own flags (e.g. ``--percents``)
    report        options of the printed table (``metric``, ``columns``)
    """

    build: Callable
    archs: dict
    epochs: object = 160                # one number, or one per tree ({"cifar": 160, "imagenet": 90})
    ft_epochs: object = 40
    flags: Flags = None
    report: dict = field(default_factory=dict)
    seeds: object = field(default_factory=lambda: {"cifar": 5, "imagenet": 1})   # the papers': 5 runs / one

    def default(self, name: str, tree: str):
        """``epochs`` / ``ft_epochs`` / ``seeds`` of ``tree``."""
        value = getattr(self, name)
        return value.get(tree) if isinstance(value, dict) else value


@dataclass(frozen=True)
class Method:
    name: str                                   # the folder name in cifar/ and imagenet/
    title: str                                  # the paper
    trainings: dict = field(default_factory=lambda: {"main": Training()})
    pruning: Optional[Pruning] = None
    finetune: Retraining = Retraining()
    scratch: Retraining = Retraining()
    table: Optional[Table] = None
    entry_points: tuple = ("main.py", "prune.py", "main_finetune.py", "main_scratch.py")
