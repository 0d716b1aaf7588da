"""Iterative Magnitude Pruning with learning-rate restarting (Zimmer, Spiegel, Pokutta, ICLR 2023):
the declaration. The algorithm is ``common/pruning/imp.py``; ``main_imp.py`` runs the prune-retrain
phases (``common.sequences.imp_sequence``)."""

from dataclasses import dataclass
from typing import Optional

from common.errors import UserError
from common.methods.base import Pruned, Training, register_method
from common.methods.weight_level import MaskMethod
from common.pruning.imp import GMP, PRUNABLE, SCHEDULES, LRTrace
from common.pruning.weight_level import magnitude_prune
from common.settings import Settings, flag, fraction, non_negative_int, positive_int


@dataclass(frozen=True)
class GoalSparsity(Settings):
    sparsity: float = flag(None, "goal sparsity S of the conv and linear weights, in [0, 1)", type=fraction,
                           required=True)


@dataclass(frozen=True)
class IMPPhases(GoalSparsity):
    """The flags of an IMP sequence (``main_imp.py``)."""

    phases: int = flag(1, "prune-retrain phases J (1 = One Shot)", type=positive_int)
    retrain: str = flag("LLR", f"schedule: {', '.join(SCHEDULES)} or BIMP (= ALLR with --budget, for a dense run "
                               f"trained with --schedule linear)")
    phase_epochs: Optional[int] = flag(None, "retraining epochs per phase", type=non_negative_int)
    budget: Optional[int] = flag(None, "total retraining epochs, split floor(B/J) per phase, the rest in the last",
                                 type=non_negative_int)


class DenseTraining(Training):
    """main.py: the dense run, recording the learning rate of every iteration (the schedules are built from it)."""

    def hooks(self, s, model):
        return [LRTrace()]


@dataclass(frozen=True)
class GMPSettings(GoalSparsity):
    prune_every: int = flag(4, "pruning interval D in epochs (default 4)", type=positive_int)


class GradualMagnitudePruning(Training):
    """main_gmp.py: GMP (Zhu & Gupta 2017), pruning during training, the baseline IMP is compared with."""

    entry = "main_gmp.py"
    settings = GMPSettings

    def arm(self, s):
        return "GMP"

    def variant(self, s):
        return f"S{s.sparsity:g}-T{s.epochs}-GMP"

    def hooks(self, s, model):
        return [GMP(s.sparsity, s.prune_every, s.epochs)]


@dataclass(frozen=True)
class IMPTable(Settings):
    sparsity: str = flag("0.9", "goal sparsity S (default 0.9)")
    phases: int = flag(3, "prune-retrain phases J (default 3)", type=positive_int)
    phase_epochs: int = flag(10, "retraining epochs per phase (default 10)", type=positive_int)
    schedules: str = flag("FT LRW SLR CLR LLR ALLR", "retraining schedules")
    gmp_every: str = flag("4", "GMP's pruning interval D in epochs (default 4)")


@register_method
class IMP(MaskMethod):
    name = "imp"
    title = "How I Learned to Stop Worrying and Love Retraining (Zimmer et al., ICLR 2023)"
    training = DenseTraining()
    other_trainings = {"gmp": GradualMagnitudePruning()}
    entry_points = ("main.py", "prune.py", "main_finetune.py", "main_scratch.py", "main_imp.py", "main_gmp.py")
    prune_settings = GoalSparsity
    table_settings = IMPTable
    archs = {"cifar": ["resnet56"]}
    seeds = 1
    report = {"metric": "final", "columns": ["sparsity", "epochs_total"]}

    def pruned_variant(self, s, ckpt):
        return f"S{s.sparsity:g}"

    def prune(self, s, model, ckpt, data):
        """One Shot pruning to --sparsity: one global magnitude threshold over the conv and linear weights."""
        mask, report = magnitude_prune(model, s.sparsity, PRUNABLE, "global", mask=ckpt.get("mask"))
        return Pruned(model, report, mask)

    def table(self, t):
        """Per model: the dense run, every retraining schedule in J phases and in one shot (same budget), BIMP
        after a shorter dense run with linear decay, and GMP."""
        o = t.opts
        budget = o.phases * o.phase_epochs
        t0 = t.epochs - budget
        if t0 < 1:
            raise UserError("--phases x --phase-epochs must be below --epochs (BIMP's dense run)")
        goal = ["--sparsity", o.sparsity]
        for seed in t.seeds:
            for arch in t.archs:
                dense = t.train(arch, seed)
                for sched in o.schedules.split():
                    for phases, epochs in ((o.phases, o.phase_epochs), (1, budget)):
                        t.sequence(arch, seed, sched, f"S{float(o.sparsity):g}-J{phases}-R{epochs}",
                                   [*goal, "--phases", phases, "--phase-epochs", epochs, "--retrain", sched],
                                   source=dense, entry="main_imp.py")
                short = t.train(arch, seed, variant=f"linear-T{t0}", flags=["--schedule", "linear"], epochs=t0)
                t.sequence(arch, seed, "BIMP", f"S{float(o.sparsity):g}-J{o.phases}-B{budget}",
                           [*goal, "--phases", o.phases, "--budget", budget, "--retrain", "BIMP"], source=short,
                           entry="main_imp.py")
                t.train(arch, seed, training="gmp", arm="GMP", variant=f"S{float(o.sparsity):g}-T{t.epochs}-GMP",
                        flags=[*goal, "--prune-every", o.gmp_every])
