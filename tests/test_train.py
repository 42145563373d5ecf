import pytest
import torch

from spade.data import H5Split, read_physics
from spade.models import build_model
from spade.physics import make_physics
from spade.train import Strategy, fit, make_strategy

from conftest import TINY_SPECS

OPTS = {"epochs": 3, "batch_size": 4, "lr": 2e-3, "loss": "l1"}


def _run(files, tmp_path, tag, strategy=None):
    torch.manual_seed(0)
    model = build_model(TINY_SPECS["dncnn"])
    physics = make_physics(*read_physics(files["train"]))
    strat = strategy or make_strategy("supervised", "mri", OPTS)
    return fit(model, strat, physics, H5Split(files["train"], True), H5Split(files["val"], True), OPTS, 5,
               tmp_path / f"{tag}.state.pt", tmp_path / f"{tag}.csv", log=lambda msg: None)


def test_training_is_reproducible_and_logs_every_epoch(mri_files, tmp_path):
    a, hist_a = _run(mri_files, tmp_path, "a")
    b, hist_b = _run(mri_files, tmp_path, "b")
    assert [r["val_loss"] for r in hist_a] == [r["val_loss"] for r in hist_b]
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_loss,val_loss") and len(lines) == 4


def test_interrupted_training_resumes_to_the_same_result(mri_files, tmp_path):
    reference, _ = _run(mri_files, tmp_path, "ref")
    base = make_strategy("supervised", "mri", OPTS)
    calls = {"n": 0}

    def crashing(model, physics, batch, gen):
        calls["n"] += 1
        if calls["n"] == 4:  # during epoch 2 (2 batches per epoch)
            raise KeyboardInterrupt("simulated crash")
        return base.loss(model, physics, batch, gen)

    with pytest.raises(KeyboardInterrupt):
        _run(mri_files, tmp_path, "crash", Strategy("supervised", True, crashing))
    state = torch.load(tmp_path / "crash.state.pt", weights_only=True)
    assert state["epoch"] == 1
    resumed, hist = _run(mri_files, tmp_path, "crash")
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    for p, q in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-6)


def test_strategy_and_split_must_agree(mri_files, tmp_path):
    model = build_model(TINY_SPECS["dncnn"])
    physics = make_physics(*read_physics(mri_files["train"]))
    with pytest.raises(ValueError, match="needs_target"):
        fit(model, make_strategy("supervised", "mri", OPTS), physics, H5Split(mri_files["train"], False),
            H5Split(mri_files["val"], False), OPTS, 0, tmp_path / "s.pt", tmp_path / "h.csv")


def test_school_computes_the_teachers_outputs_once(mri_files, tmp_path):
    """An equilibrium teacher solves a fixed point per call: its (frozen) outputs are
    computed once per sample, not once per epoch, and give the same loss."""
    from spade.train import TeacherOutputs

    torch.manual_seed(0)
    teacher, student = build_model(TINY_SPECS["dncnn"]), build_model(TINY_SPECS["dncnn"])
    with torch.no_grad():  # a teacher that differs from the student (whose output layer starts at zero)
        for p in teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
    physics = make_physics(*read_physics(mri_files["train"]))
    seen = []
    teacher.register_forward_hook(lambda module, args, out: seen.append(out.shape[0]))
    strategy = make_strategy("school", "mri", OPTS, teacher)
    train, val = H5Split(mri_files["train"], False), H5Split(mri_files["val"], False)
    _, history = fit(student, strategy, physics, train, val, OPTS, 5, tmp_path / "s.state.pt", tmp_path / "s.csv",
                     log=lambda msg: None)
    assert sum(seen) == len(train) + len(val), "one teacher output per sample, whatever the epochs"
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    paired = TeacherOutputs(train, teacher, physics, 4, torch.device("cpu"))
    y, target = next(iter(torch.utils.data.DataLoader(paired, batch_size=4)))
    with torch.no_grad():
        torch.testing.assert_close(strategy.paired_loss(student, physics, (y, target), None),
                                   strategy.loss(student, physics, y, None))
    assert not paired.with_target, "a label-free split stays label free with the teacher's outputs"
    assert TeacherOutputs(H5Split(mri_files["train"], True), teacher, physics, 4, torch.device("cpu")).with_target
