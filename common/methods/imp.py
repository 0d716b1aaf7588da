"""Iterative Magnitude Pruning with learning-rate restarting (Zimmer, Spiegel, Pokutta, ICLR 2023):
the declaration. The algorithm is ``common/pruning/imp.py``; ``main_imp.py`` runs the prune-retrain
phases (``common.sequences.imp``)."""

from common.cli import fraction, positive_int
from common.errors import UserError
from common.methods.base import Method, Pruned, Pruning, Table, Training
from common.methods.weight_level import SPARSE_SCRATCH
from common.pruning.imp import GMP, PRUNABLE, LRTrace
from common.pruning.magnitude import magnitude_prune


def prune(args, model, ckpt, data):
    """One Shot pruning to --sparsity: one global magnitude threshold over the conv and linear weights."""
    mask, report = magnitude_prune(model, args.sparsity, PRUNABLE, "global", mask=ckpt.get("mask"))
    return Pruned(model, report, mask)


def gmp_flags(p):
    p.add_argument("--sparsity", type=fraction, required=True, help="goal sparsity S in [0, 1)")
    p.add_argument("--prune-every", type=positive_int, default=4, help="pruning interval D in epochs (default 4)")


def table(t):
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


def table_flags(p):
    p.add_argument("--sparsity", default="0.9", help="goal sparsity S (default 0.9)")
    p.add_argument("--phases", type=positive_int, default=3, help="prune-retrain phases J (default 3)")
    p.add_argument("--phase-epochs", type=positive_int, default=10, help="retraining epochs per phase (default 10)")
    p.add_argument("--schedules", default="FT LRW SLR CLR LLR ALLR", help="retraining schedules")
    p.add_argument("--gmp-every", default="4", help="GMP's pruning interval D in epochs (default 4)")


METHOD = Method(
    name="imp", title="How I Learned to Stop Worrying and Love Retraining (Zimmer et al., ICLR 2023)",
    trainings={"main": Training(hooks=lambda args, model: [LRTrace()]),
               "gmp": Training(entry="main_gmp.py", flags=gmp_flags, arm="GMP",
                               hooks=lambda args, model: [GMP(args.sparsity, args.prune_every, args.epochs)],
                               variant=lambda args: f"S{args.sparsity:g}-T{args.epochs}-GMP")},
    pruning=Pruning(run=prune, variant=lambda args, ckpt: f"S{args.sparsity:g}",
                    flags=lambda p: p.add_argument("--sparsity", type=fraction, required=True,
                                                   help="goal sparsity S of the conv and linear weights, in [0, 1)")),
    scratch=SPARSE_SCRATCH,
    entry_points=("main.py", "prune.py", "main_finetune.py", "main_scratch.py", "main_imp.py", "main_gmp.py"),
    table=Table(table, archs={"cifar": ["resnet56"]}, flags=table_flags, seeds=1,
                report={"metric": "final", "columns": ["sparsity", "epochs_total"]}),
)
