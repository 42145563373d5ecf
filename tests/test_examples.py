"""docs/examples/prune_your_own.py: deblurring and inpainting with a network and operators
defined outside spade, pruned and fine-tuned through the API (a short budget here)."""

import importlib.util

import pytest

from conftest import ROOT


def example():
    spec = importlib.util.spec_from_file_location("prune_your_own", ROOT / "docs" / "examples" / "prune_your_own.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.workflow
@pytest.mark.parametrize("problem", ["deblur", "inpaint"])
def test_example_prunes_fine_tunes_and_reports(problem):
    ex = example()
    # the operators' adjoints: <A x, y> = <x, A^T y>
    import torch

    op = (ex.Blur if problem == "deblur" else ex.Inpaint)((16, 16))
    x, y = torch.rand(2, 1, 16, 16, dtype=torch.float64), torch.rand(2, 1, 16, 16, dtype=torch.float64)
    if problem == "deblur":
        op.otf = op.otf.to(torch.complex128)
    else:
        op.mask = op.mask.double()
    assert torch.allclose((op.forward(x) * y).sum(), (x * op.adjoint(y)).sum())
    out = ex.run(problem, epochs=15, finetune_epochs=3, patches=16, threads=2, log=lambda m: None)
    res, report = out["results"], out["report"]
    assert report.priors == ["denoiser"] and report.macs_reduction > 3
    unpruned, classical = res["unpruned"]["psnr"], res["classical: physics.init(y)"]["psnr"]
    assert unpruned > classical + 0.3, res
    for name in ("pruned + school", "pruned + selfsup"):
        assert res[name]["macs"] < res["unpruned"]["macs"] / 3
        assert res[name]["psnr"] > res["pruned, not fine-tuned"]["psnr"] - 0.2, (name, res)
    assert res["pruned + school"]["psnr"] > unpruned - 1.5, res
