import pickle
from pathlib import Path

import pytest
import torch

from spade.checkpoint import CheckpointError, load_model, save_model
from spade.models import build_model
from spade.physics import SingleCoilMRI, cartesian_mask
from spade.prune import prune_model

from conftest import TINY_SPECS


@pytest.mark.parametrize("prior", sorted(TINY_SPECS))
def test_pruned_artifact_round_trips_weights_only(tmp_path, prior):
    torch.manual_seed(0)
    spec = TINY_SPECS[prior]
    model = build_model(spec)
    for p in model.parameters():  # zero-initialised tails would hide a wrong load
        torch.nn.init.normal_(p, std=0.1)
    prune_model(model, torch.randn(1, 2, 16, 16), 0.5)
    path = tmp_path / "pruned.pt"
    save_model(path, model, spec, {"ratio": 0.5})
    payload = torch.load(path, weights_only=True)  # plain containers and tensors only
    assert payload["meta"]["ratio"] == 0.5
    loaded, _ = load_model(path)
    physics = SingleCoilMRI(cartesian_mask((16, 16), 3, 0.1))
    y = physics.forward(torch.randn(1, 2, 16, 16))
    with torch.no_grad():
        assert torch.equal(model(y, physics), loaded(y, physics))
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in model.parameters())


def test_missing_corrupt_and_unsafe_artifacts_fail_with_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "absent.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        load_model(bad)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "spade-model/1", "obj": pickle.PickleError()}, unsafe)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_model(unsafe)


def test_truncated_artifact_fails(tmp_path):
    model = build_model(TINY_SPECS["dncnn"])
    path = tmp_path / "m.pt"
    save_model(path, model, TINY_SPECS["dncnn"])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="m.pt"):
        load_model(path)


def test_a_failed_write_leaves_no_partial_file_and_names_the_path(tmp_path, monkeypatch):
    from spade.checkpoint import save_atomic

    def full_disk(obj, path):  # what torch.save does when the disk fills mid-write
        Path(path).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos 64 vs 32")

    monkeypatch.setattr(torch, "save", full_disk)
    target = tmp_path / "model.pt"
    with pytest.raises(OSError, match=r"model\.pt: could not be written .* MB free on its disk"):
        save_atomic({"w": torch.zeros(2)}, target)
    assert not target.exists() and not (tmp_path / "model.pt.tmp").exists()
