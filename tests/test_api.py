"""The API on networks the project did not define: priors named by path or predicate,
two distinct priors, a weight-tied prior, clear errors, fine-tuning, timing, save/load."""

import copy

import pytest
import torch
from torch import nn

import spade
from spade.benchmark import count_macs
from spade.prune import PruningError


class Op:
    """A masked identity: ``A x = m * x`` (inpainting), self-adjoint."""

    def __init__(self, size, seed=0):
        self.mask = (torch.rand(size, generator=torch.Generator().manual_seed(seed)) < 0.6).float()

    def forward(self, x):
        return self.mask * x

    def adjoint(self, y):
        return self.mask * y

    def init(self, y):
        return y

    def to(self, device):
        return self


def cnn(features=16, inplace=False):
    return nn.Sequential(nn.Conv2d(1, features, 3, padding=1), nn.ReLU(inplace=inplace),
                         nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=inplace),
                         nn.Conv2d(features, 1, 3, padding=1))


class TwoPriors(nn.Module):
    """Alternates two distinct CNNs; the step size is a plain parameter."""

    def __init__(self, inplace=False):
        super().__init__()
        self.smooth, self.sharpen = cnn(16, inplace), cnn(12, inplace)
        self.gamma = nn.Parameter(torch.tensor(0.5))

    def forward(self, y, physics):
        x = physics.init(y)
        for prior in (self.smooth, self.sharpen, self.smooth, self.sharpen):
            x = x + prior(x - self.gamma * physics.adjoint(physics.forward(x) - y))
        return x


class Tied(nn.Module):
    """One CNN reachable under two names (``body`` and ``steps[i]``), called 3 times."""

    def __init__(self):
        super().__init__()
        self.body = cnn(16)
        self.steps = nn.ModuleList([self.body] * 3)

    def forward(self, y, physics):
        x = physics.init(y)
        for step in self.steps:
            x = x + step(x - physics.adjoint(physics.forward(x) - y))
        return x


def data(n=8, size=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(n, 1, size + 3, size + 3, generator=gen), 4, 1)
    op = Op((size, size))
    return x, op.forward(x), op


def test_two_distinct_priors_are_pruned_and_the_report_says_how():
    torch.manual_seed(0)
    net = TwoPriors()
    x, y, op = data()
    before = net(y, op).shape
    report = spade.prune_priors(net, ["smooth", "sharpen"], example=lambda m: m(y[:1], op), ratio=0.5)
    assert report.priors == ["smooth", "sharpen"]
    assert report.widths_before["smooth"] == [16, 16, 1] and report.widths_after["smooth"] == [8, 8, 1]
    assert report.widths_after["sharpen"] == [6, 6, 1], "each prior keeps its own widths"
    assert report.params_after < report.params_before and report.macs_reduction > 2.5
    assert net(y, op).shape == before and net.smooth[0].in_channels == 1 and net.smooth[-1].out_channels == 1
    assert "smooth: widths [16, 16, 1] -> [8, 8, 1]" in str(report)


def test_a_predicate_names_priors_and_a_tied_prior_is_pruned_once():
    torch.manual_seed(0)
    net = Tied()
    x, y, op = data()
    report = spade.prune_priors(net, lambda path, m: path == "body", example=op.init(y[:1]), ratio=0.25)
    assert report.priors == ["body"] and sorted(report.tied["body"]) == ["steps.0", "steps.1", "steps.2"]
    assert report.widths_after["body"] == [12, 12, 1] and all(s is net.body for s in net.steps)
    assert net(y, op).shape == y.shape


def test_clear_errors():
    x, y, op = data()
    with pytest.raises(ValueError, match="no submodule \\['denoiser'\\]"):
        spade.prune_priors(TwoPriors(), ["denoiser"], example=y[:1], ratio=0.5)
    # in-place activations are switched off and pruned through, not refused (the same maths)
    report = spade.prune_priors(TwoPriors(inplace=True), ["smooth"], example=y[:1], ratio=0.5)
    assert report.inplace_off["smooth"] and report.params_after < report.params_before
    with pytest.raises(PruningError, match="nothing was pruned"):
        narrow = TwoPriors()
        narrow.smooth = cnn(1)  # one hidden channel: nothing a group can lose
        spade.prune_priors(narrow, ["smooth"], example=y[:1], ratio=0.5)
    with pytest.raises(PruningError, match="never called"):
        net = TwoPriors()
        net.unused = cnn(4)
        spade.prune_priors(net, ["unused"], example=lambda m: m(y[:1], op), ratio=0.5)


def test_finetune_strategies_lower_their_loss_and_keep_labels_from_label_free_ones():
    torch.manual_seed(0)
    x, y, op = data(16)
    net = TwoPriors()
    spade.finetune(net, "supervised", op, spade.Pairs(y, x), epochs=6, lr=3e-3, log=lambda m: None)
    teacher = copy.deepcopy(net)
    spade.prune_priors(net, ["smooth", "sharpen"], example=lambda m: m(y[:1], op), ratio=0.5)
    for strategy in ("school", "hybrid", "selfsup"):
        student = copy.deepcopy(net)
        history = spade.finetune(student, strategy, op, spade.Measurements(y), teacher=teacher, epochs=4,
                                 lr=1e-3, log=lambda m: None)
        assert history[-1]["train_loss"] < history[0]["train_loss"], strategy
    # proximal fine-tuning: the anchor keeps the fit nearer the weights it started from
    start = [p.detach().clone() for p in net.parameters()]
    moved = {}
    for anchor in (0.0, 100.0):
        student = copy.deepcopy(net)
        spade.finetune(student, "selfsup", op, spade.Measurements(y), epochs=4, lr=1e-3, anchor=anchor,
                       log=lambda m: None)
        moved[anchor] = sum((p - q).pow(2).sum().item() for p, q in zip(student.parameters(), start))
    assert 0 < moved[100.0] < 0.5 * moved[0.0], moved
    with pytest.raises(ValueError, match="label-free: give data as Measurements"):
        spade.finetune(net, "school", op, spade.Pairs(y, x), teacher=teacher)
    with pytest.raises(ValueError, match="needs ground truth"):
        spade.finetune(net, "supervised", op, spade.Measurements(y))
    with pytest.raises(ValueError, match="needs teacher"):
        spade.finetune(net, "school", op, spade.Measurements(y))


def test_a_custom_call_convention_is_supported():
    class Keyword(nn.Module):
        def __init__(self):
            super().__init__()
            self.prior = cnn(8)

        def forward(self, *, measurement, operator):
            return operator.init(measurement) + self.prior(operator.init(measurement))

    def reconstruct(net, y, physics):
        return net(measurement=y, operator=physics)

    x, y, op = data()
    net = Keyword()
    history = spade.finetune(net, "supervised", op, spade.Pairs(y, x), epochs=2, reconstruct=reconstruct,
                             log=lambda m: None)
    assert len(history) == 2
    table = spade.benchmark_variants({"a": net, "b": copy.deepcopy(net)}, op, y[:1], reconstruct=reconstruct,
                                     warmup=1, repeats=3)
    assert list(table.variant) == ["a", "b"] and table.speedup.iloc[0] == 1.0 and (table.macs > 0).all()


def test_benchmark_counts_fewer_macs_for_the_pruned_network(tmp_path):
    x, y, op = data()
    net = TwoPriors()
    pruned = copy.deepcopy(net)
    spade.prune_priors(pruned, ["smooth", "sharpen"], example=lambda m: m(y[:1], op), ratio=0.5)
    table = spade.benchmark_variants({"unpruned": net, "pruned": pruned}, op, y[:1], warmup=1, repeats=3)
    assert set(table.columns) >= {"variant", "latency_ms", "speedup", "params", "macs", "threads", "device"}
    assert table.macs.iloc[1] < table.macs.iloc[0] / 2 and table.params.iloc[1] < table.params.iloc[0]


def test_benchmark_tells_the_prior_share_and_the_amdahl_bound():
    """With its priors named, each variant's row gives how often they run and what one call
    costs (checked against counting one prior call alone), the time share spent in them and
    the Amdahl bound of shrinking only them; without priors there are no such columns."""
    from spade.benchmark import amdahl_speedup

    x, y, op = data()
    net = TwoPriors()
    pruned = copy.deepcopy(net)
    spade.prune_priors(pruned, ["smooth", "sharpen"], example=lambda m: m(y[:1], op), ratio=0.5)
    table = spade.benchmark_variants({"unpruned": net, "pruned": pruned}, op, y[:1], warmup=1, repeats=3,
                                     priors=["smooth", "sharpen"]).set_index("variant")
    assert list(table.prior_calls) == [4, 4]  # smooth, sharpen, smooth, sharpen
    x0 = op.init(y[:1])
    one_call = [sum(count_macs(p, lambda p=p: p(x0)) for p in (m.smooth, m.sharpen)) / 2 for m in (net, pruned)]
    assert list(table.prior_macs) == pytest.approx(one_call)
    assert table.prior_share.between(0, 1).all() and table.prior_share.gt(0.05).all()
    first = table.loc["unpruned"]
    assert table.loc["unpruned", "amdahl_speedup"] == pytest.approx(1.0)
    bound = amdahl_speedup(first.prior_share, one_call[0] / one_call[1])
    assert table.loc["pruned", "amdahl_speedup"] == pytest.approx(bound) and 1 < bound < one_call[0] / one_call[1]
    # a network with no priors named or of its own: latency and MACs only
    plain = spade.benchmark_variants({"a": net}, op, y[:1], warmup=1, repeats=2)
    assert "amdahl_speedup" not in plain and "prior_share" not in plain


def test_save_and_load_a_pruned_network_with_weights_only(tmp_path):
    torch.manual_seed(0)
    x, y, op = data()
    net = TwoPriors()
    net.norm = nn.BatchNorm2d(16)  # a non-conv layer with width attributes
    spade.prune_priors(net, ["smooth"], example=lambda m: m(y[:1], op), ratio=0.5)
    net.norm = nn.BatchNorm2d(8)
    path = tmp_path / "pruned.pt"
    spade.save_network(net, path, meta={"ratio": 0.5})
    payload = torch.load(path, weights_only=True)
    assert payload["meta"] == {"ratio": 0.5}

    def build():
        fresh = TwoPriors()
        fresh.norm = nn.BatchNorm2d(16)
        return fresh

    loaded = spade.load_network(path, build)
    assert loaded.smooth[0].out_channels == 8 and loaded.norm.num_features == 8
    with torch.no_grad():
        assert torch.equal(loaded(y, op), net(y, op))
    with pytest.raises(ValueError, match="not a network written by spade.save_network"):
        torch.save({"x": torch.zeros(1)}, tmp_path / "other.pt")
        spade.load_network(tmp_path / "other.pt", build)


def test_benchmark_runs_the_named_priors_in_onnxruntime(tmp_path):
    """runtime="onnxruntime": the priors run in ONNX Runtime (the network's output unchanged
    within 1e-4 of its range), MACs are counted on the torch network, and export writes a
    checked file of a pruned prior."""
    pytest.importorskip("onnxruntime")
    from spade import deploy

    x, y, op = data()
    net = TwoPriors()
    pruned = copy.deepcopy(net)
    spade.prune_priors(pruned, ["smooth", "sharpen"], example=lambda m: m(y[:1], op), ratio=0.5)
    eager = spade.benchmark_variants({"unpruned": net, "pruned": pruned}, op, y[:1], warmup=1, repeats=2,
                                     priors=["smooth", "sharpen"])
    ort = spade.benchmark_variants({"unpruned": net, "pruned": pruned}, op, y[:1], warmup=1, repeats=2,
                                   priors=["smooth", "sharpen"], runtime="onnxruntime")
    assert list(ort.runtime) == ["onnxruntime"] * 2 and list(ort.macs) == list(eager.macs)
    assert list(ort.prior_calls) == [4, 4]
    deployed = spade.api._deploy(pruned, ["smooth", "sharpen"], "onnxruntime")
    assert isinstance(deployed.smooth, deploy.OrtModule) and not isinstance(pruned.smooth, deploy.OrtModule)
    with torch.inference_mode():
        assert deploy.max_difference(pruned(y[:1], op), deployed(y[:1], op)) <= 1e-4
    x0 = op.init(y[:1])
    assert spade.export(pruned.smooth, x0, tmp_path / "smooth.onnx") <= 1e-4 and (tmp_path / "smooth.onnx").exists()
    with pytest.raises(ValueError, match="name them"):
        spade.benchmark_variants({"a": net}, op, y[:1], warmup=0, repeats=1, runtime="onnxruntime")


class _Wrapper(nn.Module):
    """deepinv's PnP shape: the network calls the wrapper's ``prox``, never its forward."""

    def __init__(self):
        super().__init__()
        self.denoiser = cnn(8)

    def prox(self, x):
        return self.denoiser(x)


class _Sigma(nn.Module):
    """A denoiser called as ``(x, sigma)``."""

    def __init__(self):
        super().__init__()
        self.body = cnn(8)

    def forward(self, x, sigma):
        return self.body(x) * sigma


def test_mends_found_pruning_deepinv_networks(tmp_path, capsys):
    x, y, op = data()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.prior = nn.ModuleList([_Wrapper()])

        def forward(self, y, physics):
            return self.prior[0].prox(physics.init(y))

    with pytest.raises(PruningError, match=r"never called.*\['prior\.0\.denoiser'\] \(name those\)"):
        spade.prune_priors(Net(), ["prior.0"], example=lambda m: m(y[:1], op), ratio=0.5)
    holder = nn.Module()
    holder.den = _Sigma()
    x0 = op.init(y[:1])
    report = spade.prune_priors(holder, ["den"], example={"den": (x0, torch.tensor(0.1))}, ratio=0.5)
    assert report.params_after < report.params_before
    # spade info counts what the prune report counts, and names a plain state_dict for what it is
    from spade.cli import main

    net = TwoPriors()
    report = spade.prune_priors(net, ["smooth"], example=y[:1], ratio=0.5)
    spade.save_network(net, tmp_path / "mine.pt")
    assert main(["info", str(tmp_path / "mine.pt")]) == 0
    assert f"params: {report.params_after}" in capsys.readouterr().out
    torch.save(net.state_dict(), tmp_path / "plain.pt")
    assert main(["info", str(tmp_path / "plain.pt")]) == 2
    assert "a plain state_dict" in capsys.readouterr().err
