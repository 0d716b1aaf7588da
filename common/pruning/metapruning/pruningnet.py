"""The PruningNet (Liu et al., ICCV 2019, Sec. 3.2, Fig. 2; spec B.2-B.4): generated weights for any encoding,
trained on a new random encoding every batch; a candidate's generated network and its fitness."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
from torch.func import functional_call

from common.engine import Hook, evaluate
from common.errors import UserError
from common.models import build_model, build_shapes
from common.pruning.metapruning.space import FULL, SearchSpace, sample_encoding


def _skeleton(arch, num_classes, in_channels, cfg) -> nn.Module:
    """The plain network of ``cfg`` on the meta device, its BNs without affine or running statistics."""
    net = build_shapes(arch, num_classes, in_channels, cfg)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_parameter("weight", None)
            m.register_parameter("bias", None)
            m.track_running_stats, m.running_mean, m.running_var, m.num_batches_tracked = False, None, None, None
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    return net


class PruningNet(nn.Module):
    """Generates the conv weights of every network of ``space``; see the module docstring.

    ``encoding`` (a tuple of genes) selects the network the next forward computes; in training it is
    set before every batch by :class:`EncodingSampler`; in evaluation mode every batch draws one from
    a generator reset by ``eval()``, so an evaluation scores the same random encodings each time.
    """

    def __init__(self, space: SearchSpace, num_classes: int, in_channels: int = 3, eval_seed: int = 0):
        super().__init__()
        self.space, self.eval_seed = space, eval_seed
        self.arch, self.cfg, self.num_classes, self.in_channels = space.arch, list(space.base), num_classes, in_channels
        full = build_model(space.arch, num_classes, in_channels, list(space.base))
        self.convs, self.generators = {}, nn.ModuleDict()
        for name, m in full.named_modules():
            if isinstance(m, nn.Conv2d):
                depthwise = m.groups > 1
                if depthwise and not m.groups == m.in_channels == m.out_channels:
                    raise UserError(f"{name} of {space.arch} is a grouped conv; MetaPruning handles depthwise ones")
                h = space.hidden_of(name)
                self.convs[name] = (tuple(m.weight.shape), depthwise)
                self.generators[name.replace(".", "_")] = nn.Sequential(
                    nn.Linear(1 if depthwise else 2, h), nn.ReLU(inplace=True), nn.Linear(h, m.weight.numel()))
        plain = {k: v for k, v in full.named_parameters()
                 if k.rsplit(".", 1)[0] not in self.convs and not _is_bn(full, k)}
        self.plain = nn.ParameterDict({k.replace(".", "_"): nn.Parameter(v.detach().clone()) for k, v in plain.items()})
        self._plain_names = {k.replace(".", "_"): k for k in plain}
        smallest = _skeleton(space.arch, num_classes, in_channels, space.cfg([0] * len(space.genes)))
        for k, v in smallest.named_parameters():
            if k.replace(".", "_") in self.plain and tuple(v.shape) != tuple(self.plain[k.replace(".", "_")].shape):
                raise UserError(f"{k} of {space.arch} changes shape with the encoding; only convs are generated")
        self.encoding = (FULL,) * len(space.genes)
        self._skeletons: OrderedDict = OrderedDict()
        self._eval_rng = torch.Generator().manual_seed(eval_seed)

    def train(self, mode: bool = True):
        if not mode:
            self._eval_rng.manual_seed(self.eval_seed)
        return super().train(mode)

    def skeleton(self, cfg) -> nn.Module:
        key = tuple(cfg)
        if key not in self._skeletons:
            self._skeletons[key] = _skeleton(self.arch, self.num_classes, self.in_channels, cfg)
            if len(self._skeletons) > 8:
                self._skeletons.popitem(last=False)
        self._skeletons.move_to_end(key)
        return self._skeletons[key]

    def weights(self, encoding) -> tuple[nn.Module, dict]:
        """The encoding's network (meta device) and its weights: generated convs, the plain layers."""
        net = self.skeleton(self.space.cfg(encoding))
        shapes = {n: m.weight.shape for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}
        device = next(self.parameters()).device
        params = {}
        for name, (full, depthwise) in self.convs.items():
            out, inp = shapes[name][0], shapes[name][1]
            ratios = [out / full[0]] if depthwise else [out / full[0], inp / full[1]]
            w = self.generators[name.replace(".", "_")](torch.tensor(ratios, device=device)).view(full)
            params[f"{name}.weight"] = w[:out] if depthwise else w[:out, :inp]
        for k, v in self.plain.items():
            params[self._plain_names[k]] = v
        return net, params

    def forward(self, x):
        if not self.training:
            self.encoding = sample_encoding(self.space, self._eval_rng)
        net, params = self.weights(self.encoding)
        return functional_call(net, params, (x,))

    def base_network(self) -> nn.Module:
        """The full-width plain network (what the counts of a run compare against)."""
        return build_model(self.arch, self.num_classes, self.in_channels, list(self.space.base))


def _is_bn(model, key) -> bool:
    return isinstance(model.get_submodule(key.rsplit(".", 1)[0]), nn.BatchNorm2d)


class EncodingSampler(Hook):
    """Before every training forward: a new random encoding (its generator is saved for a resume)."""

    def __init__(self, pruningnet: PruningNet, seed: int):
        self.net, self.rng = pruningnet, torch.Generator().manual_seed(seed)

    def before_forward(self, trainer):
        self.net.encoding = sample_encoding(self.net.space, self.rng)

    def state_dict(self):
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state):
        self.rng.set_state(state["rng"])


@torch.no_grad()
def generate(pnet: PruningNet, encoding) -> nn.Module:
    """The plain network of ``encoding`` holding the PruningNet's generated weights (BN scale 1, shift 0;
    running statistics reset: re-estimate them with :func:`recalibrate_bn`)."""
    encoding = pnet.space.check(encoding)
    net, params = pnet.weights(encoding)
    model = build_model(pnet.arch, pnet.num_classes, pnet.in_channels, pnet.space.cfg(encoding))
    state = model.state_dict()
    for k, v in params.items():
        state[k] = v.detach().cpu()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight), nn.init.zeros_(m.bias)
            m.reset_running_stats()
    model.load_state_dict(state)
    return model.to(next(pnet.parameters()).device)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches) -> None:
    """Re-estimate every BN's running statistics (spec B.4 step 1-2): reset, then train-mode forwards
    without gradients. The average is cumulative (``momentum=None``), so it does not depend on how many
    batches there are; the authors used momentum 0.1 over 100 batches of 1000, which agrees closely."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x in batches:
        model(x)
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    model.eval()


@torch.no_grad()
def fitness(pnet: PruningNet, encoding, recal_batches, heldout, device) -> float:
    """Top-1 error (%) on ``heldout`` of the encoding's generated network after re-estimating its BN
    statistics on ``recal_batches`` (spec B.4)."""
    model = generate(pnet, encoding)
    recalibrate_bn(model, recal_batches)
    return 100.0 - evaluate(model, heldout, device)[1]
