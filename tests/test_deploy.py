"""Deployed runtimes: ONNX Runtime reconstructions equal torch's, exports are checked, and a
missing runtime or an unexportable module is refused clearly."""

import copy

import pytest
import torch
from torch import nn

from spade import deploy
from spade.models import build_model
from spade.physics import SingleCoilMRI, cartesian_mask
from spade.prune import prune_model

from conftest import ALL_SPECS

pytest.importorskip("onnxruntime")


def _trained_like(model: nn.Module) -> nn.Module:
    """Non-zero weights everywhere (a fresh EDSR's zero tail would make the prior the identity)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
    return model.eval()


class _Halved(nn.Module):
    def __init__(self, prior):
        super().__init__()
        self.prior = prior

    def forward(self, z):
        return 0.5 * self.prior(z)


@pytest.mark.parametrize("name", sorted(ALL_SPECS))
@pytest.mark.parametrize("pruned", [False, True])
def test_onnxruntime_reconstruction_equals_torch(name, pruned):
    torch.manual_seed(0)
    model = _trained_like(build_model(ALL_SPECS[name]))
    physics = SingleCoilMRI(cartesian_mask((16, 16), 3, 0.1))
    y = physics.forward(torch.randn(2, 2, 16, 16))
    if pruned:
        prune_model(model, torch.randn(1, 2, 16, 16), 0.5)
    if hasattr(model, "tol"):
        # an untrained residual prior has no fixed point to converge to (the map is the identity
        # plus noise off the sampled k-space): halved, it contracts, and both runtimes reach its
        # fixed point (a trained DEQ's gap at the study's tolerance: the benchmark records it)
        model.prior = _Halved(model.prior)
        model.tol, model.max_iter = 1e-6, 200
    ort_model = deploy.deployed(model, deploy.ONNXRUNTIME, threads=1)
    with torch.inference_mode():
        ref, out = model(y, physics), ort_model(y, physics)
    diff = deploy.max_difference(ref, out)
    if hasattr(model, "tol"):
        assert int(model.last_iterations.max()) < model.max_iter  # converged
    print(f"{name} pruned={pruned}: max |onnxruntime - torch| = {diff:.2e} of the image range")
    assert diff <= 1e-4
    assert all(isinstance(p, deploy.OrtModule) for p in ort_model.priors())
    assert not any(isinstance(p, deploy.OrtModule) for p in model.priors())  # the original is untouched


def test_priors_really_run_in_onnxruntime():
    model = _trained_like(build_model(ALL_SPECS["du-edsr"]))
    physics = SingleCoilMRI(cartesian_mask((16, 16), 3, 0.1))
    y = physics.forward(torch.randn(1, 2, 16, 16))
    ort_model = deploy.deployed(model, deploy.ONNXRUNTIME, threads=1)
    calls = []
    ort_model.priors()[0].module.register_forward_hook(lambda *a: calls.append(1))
    with torch.inference_mode():
        ort_model(y, physics)  # the first call exports (torch traces the prior and checks it)
        after_export = len(calls)
        ort_model(y, physics)
    # afterwards every step runs in ONNX Runtime: torch's prior is never called again
    assert len(calls) == after_export and len(ort_model.priors()[0]._sessions) == 1


def test_export_writes_a_checked_file(tmp_path):
    import onnxruntime

    prior = _trained_like(build_model(ALL_SPECS["du-edsr"])).prior
    x = torch.randn(1, 2, 16, 16)
    out = tmp_path / "prior.onnx"
    diff = deploy.export(prior, (x,), out)
    assert out.exists() and diff <= 1e-4
    sess = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        assert torch.allclose(torch.from_numpy(sess.run(None, {"in0": x.numpy()})[0]), prior(x), atol=1e-5)


def test_export_refuses_an_output_beyond_the_tolerance(tmp_path):
    prior = _trained_like(build_model(ALL_SPECS["du-edsr"])).prior
    out = tmp_path / "prior.onnx"
    with pytest.raises(deploy.ExportError, match="differs from torch by"):
        deploy.export(prior, (torch.randn(1, 2, 16, 16),), out, tolerance=-1.0)
    assert not out.exists() and not list(tmp_path.iterdir())


class _Unexportable(nn.Module):
    def forward(self, x):
        return torch.fft.fft2(x).abs()  # the TorchScript exporter has no FFT


def test_unexportable_module_names_the_module_and_the_fallback(tmp_path):
    with pytest.raises(deploy.ExportError, match="_Unexportable.*fft.*'eager'"):
        deploy.export(_Unexportable(), (torch.randn(1, 2, 4, 4),), tmp_path / "x.onnx", tolerance=1e-4)


def test_missing_runtime_names_the_package_and_extra(monkeypatch):
    import spade.runtimes as runtimes

    real = runtimes.importlib.util.find_spec
    monkeypatch.setattr(runtimes.importlib.util, "find_spec", lambda n: None if n == "onnxruntime" else real(n))
    with pytest.raises(RuntimeError, match=r"onnxruntime.*pip install -e '\.\[deploy\]'"):
        deploy.check_runtime(deploy.ONNXRUNTIME)
    deploy.check_runtime(deploy.EAGER)  # torch's own runtimes need nothing more
    with pytest.raises(ValueError, match="unknown runtime 'tvm'"):
        deploy.check_runtime("tvm")


def test_a_deployed_network_copies():
    model = _trained_like(build_model(ALL_SPECS["deq-edsr"]))
    physics = SingleCoilMRI(cartesian_mask((16, 16), 3, 0.1))
    y = physics.forward(torch.randn(1, 2, 16, 16))
    ort_model = deploy.deployed(model, deploy.ONNXRUNTIME, threads=1)
    with torch.inference_mode():
        ort_model(y, physics)  # holds a session now
        copied = copy.deepcopy(ort_model)
        torch.testing.assert_close(copied(y, physics), ort_model(y, physics))
