"""What a method is: one class, registered with :func:`register_method`. The arms (``common.arms``), the
sequences and the table runner (``common.sweep``) read nothing else about it, so a method declared in any
folder -- not only here -- runs through all of them.

    @register_method
    class L2Norm(Method):
        name, title = "l2-norm", "Filter L2 norm (a variant of Li et al., ICLR 2017)"
        prune_settings = RatioSettings             # the flags of prune.py, a typed dataclass
        archs = {"cifar": ["vgg16_mlp"]}

        def prune(self, s, model, ckpt, data):
            scores = l2_filter_norm(model)           # common.pruning.criteria
            return Pruned(*prune_by_score(model, scores, per_layer_ratio(model, s.ratio)))

        def table(self, t):                        # the paper's table as steps (common.sweep.Plan)
            for seed in t.seeds:
                for arch in t.archs:
                    t.retrain(t.prune(t.train(arch, seed), f"r{s.ratio:g}", ["--ratio", ...]))

Every hook gets ``s``, the entry point's settings (``common.settings``: one flat, frozen object holding the
model, data and training flags and the method's own), ``ckpt`` a loaded checkpoint (``common.checkpoint``)
and ``model`` a registered model (``common.models.protocol``). A hook that changes a setting returns a new
settings object (``s.replace(percent=0.5)``); none mutates one.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from common import code
from common.errors import UserError
from common.settings import NoSettings

ROOT = Path(__file__).resolve().parents[2]       # the repository: cifar/<method>/, imagenet/<method>/


class Training:
    """A training run of a method: ``main.py`` (the baseline, or the method's own training), or another
    entry of the method's folder (IMP's ``main_gmp.py``). Override what differs from a plain baseline."""

    entry = "main.py"
    settings: type = NoSettings          # the run's own flags (a settings dataclass)

    def resolve(self, s):
        """``s`` with the defaults that depend on other settings filled in (before the run folder is named)."""
        return s

    def arm(self, s) -> str:
        """The run's arm: what it is in the table (``baseline``; slimming's ``sparsity`` when the penalty is on)."""
        return "baseline"

    def variant(self, s) -> Optional[str]:
        """The run's variant for its folder name (None: the baseline)."""
        return None

    def hooks(self, s, model) -> list:
        """Engine hooks of the run (``common.engine.Hook``)."""
        return []

    def network(self, s, dataset):
        """What the run trains (default None: ``(arch, cfg)`` of the settings). MetaPruning: its PruningNet."""
        return None


@dataclass
class Pruned:
    """What :meth:`Method.prune` returns: the pruned model, JSON-able details for result.json and,
    for an unstructured (or partly unstructured) result, the keep-mask the engine holds."""

    model: object
    report: dict = field(default_factory=dict)
    mask: Optional[dict] = None


class Method:
    """A pruning method, declared once (see the module docstring). Every attribute and hook has a default;
    a method overrides what it needs."""

    name: str = ""                       # its folder in cifar/ and imagenet/, the run folders' method
    title: str = ""                      # the paper
    training: Optional[Training] = Training()   # what main.py trains (None: main.py runs a sequence)
    other_trainings: dict = {}           # further training entries by name (IMP: {"gmp": ...})
    entry_points: tuple = ("main.py", "prune.py", "main_finetune.py", "main_scratch.py")
    folder: Optional[Path] = None        # where its recipes are (default: cifar/<name>/ and imagenet/<name>/)

    # -- prune.py -------------------------------------------------------------------------------------------
    prune_settings: type = NoSettings    # the flags of prune.py
    accepts: tuple = ()                  # other methods whose trained checkpoints it prunes too
    published: dict = {}                 # the paper's pruned architectures {name: (arch, cfg)} (--published)

    def resolve_pruning(self, s, ckpt):
        """``s`` with defaults and checks that need the checkpoint (before the run folder is named)."""
        return s

    def pruned_variant(self, s, ckpt) -> str:
        """The pruned model's variant (known before pruning: it names the run folder)."""
        raise NotImplementedError(f"{self.name} does not name its pruned variants")

    def load(self, s, ckpt):
        """The model pruned (default None: the checkpoint's network). MetaPruning: the PruningNet."""
        return None

    def prepare(self, s, model, ckpt):
        """Before the flags are checked and the model is evaluated: fold the method's training state into it
        (SSS's block scales) or return the model it prunes (ResNet-50 with channel samplers); None: as is."""
        return None

    def check(self, s, model, input_size) -> None:
        """Flags that do not fit the model: one ``UserError`` line, before any data is read."""

    def prune(self, s, model, ckpt, data) -> Pruned:
        """The algorithm. ``data.train`` / ``data.test`` are the loaders, ``data.sample(n)`` n class-balanced
        training images as ``(x, y)`` batches, ``data.folder`` the run folder."""
        raise NotImplementedError(f"{self.name} has no pruning")

    def measured(self, model):
        """The network whose parameters and FLOPs stand for ``model`` (a PruningNet: its widest network)."""
        return model

    # -- main_finetune.py / main_scratch.py -------------------------------------------------------------------
    finetune_settings: type = NoSettings
    scratch_settings: type = NoSettings

    def retrain_hooks(self, arm: str, s, model, ckpt) -> list:
        """Engine hooks of fine-tuning (``arm`` "finetune") or of training from scratch ("scratch")."""
        return []

    def reinit(self, s, model, mask) -> None:
        """Re-initialise a fresh masked model for its sparsity (scratch; the mask is applied either way)."""

    # -- the table (common.sweep) -----------------------------------------------------------------------------
    table_settings: type = NoSettings    # the table runner's flags of this method (e.g. --percents)
    archs: dict = {}                     # the paper's models per tree ({"cifar": [...], "imagenet": [...]})
    epochs: object = 160                 # the recipes' training epochs (one number, or one per tree)
    ft_epochs: object = 40               # and fine-tuning epochs
    seeds: object = {"cifar": 5, "imagenet": 1}    # the papers': 5 runs on CIFAR, one on ImageNet
    report: dict = {}                    # options of the printed table (``metric``, ``columns``)

    def table(self, t) -> None:
        """Add the paper's table as steps: ``t.train``, ``t.prune``, ``t.retrain``, ``t.sequence``."""
        raise NotImplementedError(f"{self.name} has no table")

    # -- derived -------------------------------------------------------------------------------------------
    @property
    def trainings(self) -> dict:
        """Every training entry of the method by name (``main``: main.py, unless main.py is a sequence)."""
        return {k: v for k, v in {"main": self.training, **self.other_trainings}.items() if v is not None}

    def default(self, name: str, tree: str):
        """``epochs`` / ``ft_epochs`` / ``seeds`` of ``tree``."""
        value = getattr(self, name)
        return value.get(tree) if isinstance(value, dict) else value

    def recipes(self, tree: str) -> Path:
        """The folder of the method's recipes for ``tree`` (a method declared elsewhere: its own folder)."""
        if self.folder is not None:
            return self.folder
        return ROOT / tree / self.name if self.source is None else self.declaration.parent

    @property
    def has_table(self) -> bool:
        return type(self).table is not Method.table

    @property
    def declaration(self) -> Path:
        """The file that declares the method."""
        return Path(sys.modules[type(self).__module__].__file__).resolve()

    @property
    def source(self) -> Optional[str]:
        """The file that declares the method, when it lies outside ``common/`` (recorded in checkpoints, so
        that any entry point finds the method again)."""
        return None if (ROOT / "common") in self.declaration.parents else str(self.declaration)

    def code(self, uses_method: bool = True) -> dict:
        """The code a run of the method depends on (``common.code.fingerprint``): with its declaration and
        algorithm, unless the run does not use them (a plain baseline)."""
        return code.fingerprint(self.declaration if uses_method else None)


METHODS: dict[str, Method] = {}


def register_method(cls):
    """Class decorator: register one instance of the method class under its ``name``."""
    method = cls()
    if not method.name:
        raise TypeError(f"{cls.__name__} has no name")
    known = METHODS.get(method.name)
    if known is not None and type(known).__qualname__ != cls.__qualname__:
        raise ValueError(f"method {method.name!r} registered twice ({type(known).__name__} and {cls.__name__})")
    METHODS[method.name] = method
    if method.source:                 # its folder's files are part of the code its runs record
        code.track(Path(method.source).parent)
    return cls


def get_method(method, source: str | None = None) -> Method:
    """A method object, or the registered method of that name (imported from ``source``, the declaring file
    recorded in a checkpoint, when it is not registered yet)."""
    if isinstance(method, Method):
        return method
    if isinstance(method, type) and issubclass(method, Method):
        return METHODS.get(method.name) or method()
    if method not in METHODS and source and Path(source).is_file():
        load_method_file(source)
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[method]


def load_method_file(path) -> None:
    """Import a file that declares methods (``@register_method``), e.g. a method in a folder of one's own."""
    path = Path(path).resolve()
    if not path.is_file():
        raise UserError(f"no method file {path}")
    name = f"_methods_{path.stem}_{abs(hash(str(path))) % 10**8}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))      # its own helpers next to it
    spec.loader.exec_module(module)
