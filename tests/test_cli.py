"""The `spade` command: each subcommand on the study's artifacts and split files, its help,
and clear errors with exit status 2 on bad input."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from spade.cli import main, parser
from spade.study.stages import train_unpruned

SPADE = Path(sys.executable).parent / "spade"


@pytest.fixture
def unpruned(mri_files, tmp_path):
    out = tmp_path / "unpruned.pt"
    arch = {"prior": {"name": "dncnn", "features": 16, "layers": 4}, "steps": 2}
    opts = {"epochs": 2, "batch_size": 4, "lr": 2e-3, "loss": "l1"}
    train_unpruned("mri", "du", arch, opts, 0, 1, mri_files["train"], mri_files["val"], out, tmp_path / "h.csv",
                   tmp_path / "s.pt")
    return out


def test_every_subcommand_has_complete_help():
    res = subprocess.run([str(SPADE), "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for command in ("info", "prune", "finetune", "evaluate", "bench", "export"):
        assert command in res.stdout
        text = subprocess.run([str(SPADE), command, "--help"], capture_output=True, text=True).stdout
        assert text.startswith(f"usage: spade {command}") and "-h, --help" in text
    actions = {a.dest for a in parser()._subparsers._group_actions[0].choices["finetune"]._actions}
    assert {"strategy", "teacher", "epochs", "batch_size", "lr", "selfsup", "ei_weight", "seed", "device"} <= actions


def test_prune_finetune_evaluate_bench_info(unpruned, mri_files, tmp_path, capsys):
    pruned, tuned = tmp_path / "pruned.pt", tmp_path / "school.pt"
    assert main(["prune", str(unpruned), "--data", str(mri_files["train"]), "--ratio", "0.5", "-o", str(pruned)]) == 0
    assert "of the prior channels removed" in capsys.readouterr().out
    assert main(["finetune", str(pruned), "--strategy", "school", "--teacher", str(unpruned), "--train",
                 str(mri_files["test"]), "--val", str(mri_files["val"]), "--epochs", "1", "-o", str(tuned)]) == 0
    assert tuned.is_file() and (tmp_path / "school_history.csv").is_file()
    # a label-free fit from the command line watches the schema's label-free monitor, as the
    # workflow's do (its curve starts at the pruned network, epoch 0), and recipes take the
    # schema's settings (-jac's weight is the schema's 0.001, not a default of the stage's own)
    from spade.checkpoint import load_payload
    from spade.study.config import schema_defaults

    meta = load_payload(tuned)["meta"]
    assert meta["opts"]["monitor"] == schema_defaults("finetune")["label_free"]["monitor"]["mri"] == "heldout_kspace"
    assert [row["epoch"] for row in meta["history"]][0] == 0
    assert meta["opts"]["recipes"] == schema_defaults("finetune")["recipes"]
    scores = tmp_path / "scores.csv"
    assert main(["evaluate", str(tuned), "--data", str(mri_files["test"]), "-o", str(scores)]) == 0
    frame = pd.read_csv(scores)
    assert len(frame) == 3 and set(frame.strategy) == {"school"} and (frame.psnr > 0).all()
    assert main(["evaluate", "--classical", "--data", str(mri_files["test"]), "-o", str(tmp_path / "c.csv")]) == 0
    capsys.readouterr()
    assert main(["bench", str(unpruned), str(tuned), "--data", str(mri_files["test"]), "--images", "1",
                 "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "unpruned" in out and "l1-r0.5-school" in out and "speedup_low" in out
    assert out.startswith("6 rounds of 1 image(s)")  # the schema's rounds: an interval, not one sample
    if importlib.util.find_spec("onnxruntime"):
        assert main(["bench", str(unpruned), str(tuned), "--data", str(mri_files["test"]), "--images", "1",
                     "--rounds", "2", "--runtimes", "onnxruntime", "eager"]) == 0
        out = capsys.readouterr().out
        assert "main rows in onnxruntime" in out and "l1-r0.5-school@eager" in out and "eager_speedup" in out
        onnx_file = tmp_path / "prior.onnx"
        assert main(["export", str(tuned), str(onnx_file), "--data", str(mri_files["test"])]) == 0
        assert onnx_file.is_file() and "equals torch within" in capsys.readouterr().out
    assert main(["info", str(tuned)]) == 0
    out = capsys.readouterr().out
    assert "strategy': 'school'" in out and "params:" in out
    assert main(["info", str(mri_files["test"])]) == 0
    assert "samples: 3" in capsys.readouterr().out


def test_finetune_runs_every_strategy_of_the_registry_with_its_recipes(unpruned, mri_files, tmp_path):
    """distill-iter from the command line: labels and the teacher, pruning the teacher in
    --budget steps to the pruned model's widths."""
    from spade.checkpoint import layer_shapes, load_model

    pruned, tuned = tmp_path / "pruned.pt", tmp_path / "distill-iter.pt"
    assert main(["prune", str(unpruned), "--data", str(mri_files["train"]), "--ratio", "0.5", "-o", str(pruned)]) == 0
    base = ["finetune", str(pruned), "--train", str(mri_files["train"]), "--val", str(mri_files["val"]), "--epochs",
            "1", "-o", str(tuned)]
    assert main([*base, "--strategy", "distill-iter", "--teacher", str(unpruned)]) == 2, "no --prune-data"
    assert main([*base, "--strategy", "distill-iter", "--teacher", str(unpruned), "--prune-data",
                 str(mri_files["test"]), "--budget", "2"]) == 0
    model, payload = load_model(tuned)
    assert payload["meta"]["identity"]["strategy"] == "distill-iter"
    assert payload["meta"]["recipe"] == {"name": "iter", "budget": 2}
    assert layer_shapes(model) == layer_shapes(load_model(pruned)[0])


@pytest.mark.parametrize("argv, named", [
    (["info", "missing.pt"], "missing.pt"),
    (["prune", "{model}", "--data", "{data}", "--ratio", "1.5", "-o", "x.pt"], "--ratio must lie in (0, 1)"),
    (["finetune", "{model}", "--strategy", "school", "--train", "{data}", "--val", "{data}", "-o", "x.pt"],
     "needs --teacher"),
    (["evaluate", "--data", "{data}", "-o", "x.csv"], "or --classical"),
    (["prune", "{data}", "--data", "{data}", "--ratio", "0.5", "-o", "x.pt"], "mri_test.h5: not a loadable"),
])
def test_bad_input_exits_2_naming_the_problem(unpruned, mri_files, tmp_path, capsys, argv, named):
    argv = [a.format(model=unpruned, data=mri_files["test"]) for a in argv]
    argv = [str(tmp_path / a) if a in ("x.pt", "x.csv", "missing.pt") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"spade {argv[0]}: error:") and named in err
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "x.csv").exists()
