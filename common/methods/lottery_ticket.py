"""The Lottery Ticket comparison of Liu et al. (2019, Sec. 6) -- winning ticket vs random
re-initialisation (Frankle & Carbin, ICLR 2019): the declaration. The algorithm is
``common/pruning/lottery.py``; ``main.py`` runs one whole sequence (``common.sequences.lottery``)."""

from common.methods.base import Method, Table


def table(t):
    """Per seed and lr: iterative magnitude pruning of every model, and one-shot L1-norm pruning (variant A)
    of every --l1-archs model, each a resumable sequence of rounds."""
    rewind = ["--rewind-iters", *t.opts.rewind_iters.split()]
    for seed in t.seeds:
        for lr in t.opts.lrs.split():
            for arch in t.archs:
                t.sequence(arch, seed, "magnitude", f"lr{float(lr):g}",
                           ["--lr", lr, "--prune", "magnitude", "--rounds", t.opts.rounds, "--percent", t.opts.percent,
                            *rewind])
            for arch in t.opts.l1_archs.split():
                t.sequence(arch, seed, "l1", f"lr{float(lr):g}", ["--lr", lr, "--prune", "l1", "--variant", "A", *rewind],
                           cfg=False)


def table_flags(p):
    p.add_argument("--l1-archs", default="vgg16_mlp resnet56 resnet110", help="models of the L1-norm comparison")
    p.add_argument("--lrs", default="0.1 0.01", help="learning rates (the paper's two)")
    p.add_argument("--rounds", default="5", help="magnitude pruning rounds (default 5)")
    p.add_argument("--percent", default="0.2", help="fraction of the remaining weights pruned per round")
    p.add_argument("--rewind-iters", default="0", help="rewind points K (default 0 = the original initialisation)")


METHOD = Method(
    name="lottery-ticket", title="The Lottery Ticket Hypothesis (Frankle & Carbin, ICLR 2019), as in Liu et al. Sec. 6",
    trainings={}, entry_points=("main.py",),
    table=Table(table, archs={"cifar": ["vgg16"]}, flags=table_flags, report={"columns": ["sparsity"]}, seeds=1),
)
