import pytest
import torch

from spade.study.data import H5Split, read_physics
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
        _run(mri_files, tmp_path, "crash", Strategy("supervised", True, loss=crashing))
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
    # a fit watching the held-out k-space score never reads the teacher on validation
    seen.clear()
    opts = {**OPTS, "epochs": 1, "monitor": "heldout_kspace"}
    fit(build_model(TINY_SPECS["dncnn"]), make_strategy("school", "mri", OPTS, teacher), physics, train, val, opts, 5,
        tmp_path / "h.state.pt", tmp_path / "h.csv", log=lambda msg: None)
    assert sum(seen) == len(train), "teacher outputs for the training split only"


def test_a_supervised_fit_watches_validation_psnr_and_keeps_its_best_epoch(mri_files, tmp_path):
    """The curve a fit with targets watches is the mean validation PSNR of its own
    reconstructions (checked against the metric computed independently on the kept model),
    and the weights it returns are those of its best epoch."""
    from spade.metrics import score

    model, history = _run(mri_files, tmp_path, "psnr")
    physics = make_physics(*read_physics(mri_files["val"]))
    val = H5Split(mri_files["val"], True)
    model.eval()
    with torch.no_grad():
        psnrs = [score(model(val.y[i][None], physics)[0], val.x[i], physics, "mri")["psnr"] for i in range(len(val))]
    best = max(history, key=lambda row: row["val_psnr"])
    assert best["best"] and best["val_psnr"] == pytest.approx(sum(psnrs) / len(psnrs), abs=1e-4)
    assert all(row["val_psnr"] is not None for row in history)


def test_a_fit_stops_when_its_validation_curve_stops_improving(mri_files, tmp_path):
    """With ``patience``, ``epochs`` is a cap: a curve that never improves after its first
    epoch (learning rate 0) stops the fit ``patience`` epochs later; without patience the
    fit runs to the cap."""
    physics = make_physics(*read_physics(mri_files["train"]))
    train, val = H5Split(mri_files["train"], True), H5Split(mri_files["val"], True)

    def run(tag, **opts):
        torch.manual_seed(0)
        options = {**OPTS, "epochs": 6, "lr": 0.0, **opts}
        return fit(build_model(TINY_SPECS["dncnn"]), make_strategy("supervised", "mri", options), physics, train,
                   val, options, 5, tmp_path / f"{tag}.state.pt", tmp_path / f"{tag}.csv", log=lambda msg: None)[1]

    stopped = run("stop", patience=2)
    assert [row["epoch"] for row in stopped] == [1, 2, 3]
    assert [row["best"] for row in stopped] == [True, False, False]
    assert len(run("cap")) == 6
    # a label-free fit watches its own loss: no PSNR, and it stops the same way
    selfsup = make_strategy("selfsup", "mri", {**OPTS, "selfsup": {"mri": "ei"}, "ei": {"weight": 1.0, "rotate": True}})
    options = {**OPTS, "epochs": 6, "lr": 0.0, "patience": 1}
    _, history = fit(build_model(TINY_SPECS["dncnn"]), selfsup, physics, H5Split(mri_files["train"], False),
                     H5Split(mri_files["val"], False), options, 5, tmp_path / "ss.state.pt", tmp_path / "ss.csv",
                     log=lambda msg: None)
    assert [row["val_psnr"] for row in history] == [None, None]
