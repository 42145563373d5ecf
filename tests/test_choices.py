"""Settings chosen on validation (spade.study.choices, `make choices`): the rule, the curves it
reads, and config/choices.yaml naming fits the workflow really writes."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from spade.study.choices import choices_markdown, curve_score, model_of, pick, read_choices
from spade.study.paths import FINETUNED, UNPRUNED_HISTORY

ROOT = Path(__file__).resolve().parents[1]


def test_pick_takes_the_best_unless_a_cheaper_one_is_within_the_margin():
    scores = pd.DataFrame({
        "fit": ["du", "du", "du", "deq", "deq"],
        "candidate": ["2", "1", "4", "2", "4"],
        "val_psnr": [26.50, 26.70, 26.65, 27.00, 26.80],
        "seconds": [100.0, 180.0, 80.0, 200.0, 150.0]})
    chosen = pick(scores, margin=0.1)
    # du: 1 is best (26.70) but 4 is within 0.1 dB and cheaper; deq: 4 is 0.2 dB behind, so 2
    assert chosen.to_dict() == {"du": "4", "deq": "2"}
    assert pick(scores, margin=0.0).to_dict() == {"du": "1", "deq": "2"}


def test_curve_score_reads_the_kept_epoch_and_refuses_a_curve_without_psnr(tmp_path):
    path = tmp_path / "x_history.csv"
    pd.DataFrame({"epoch": [1, 2, 3], "val_psnr": [24.0, 26.0, 25.5], "seconds": [10.0, 11.0, 12.0]}).to_csv(path)
    assert curve_score(path) == {"val_psnr": 26.0, "best_epoch": 2, "epochs": 3, "seconds": 33.0}
    pd.DataFrame({"epoch": [1], "val_psnr": [float("nan")], "seconds": [1.0]}).to_csv(path)
    with pytest.raises(ValueError, match="no validation PSNR"):
        curve_score(path)


def test_bad_choices_files_are_refused_with_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"margin": 0.1, "questions": {"q": {"fits": {"du": "a_history.csv"},
                                                                      "candidates": {"only": {}}}}}))
    with pytest.raises(ValueError, match="questions.q: expected at least two"):
        read_choices(path)
    path.write_text(yaml.safe_dump({"margin": -1, "questions": {"q": {}}}))
    with pytest.raises(ValueError, match="margin"):
        read_choices(path)
    with pytest.raises(ValueError, match="not a fit history"):
        model_of("results/models/mri/du/unpruned.pt")


def test_the_study_choices_name_fits_the_workflow_writes():
    spec = read_choices(ROOT / "config" / "choices.yaml")
    written = {UNPRUNED_HISTORY.format(run="", task=t, arch=a) for t in ("mri", "sr") for a in ("du", "deq", "varnet")}
    written |= {FINETUNED.format(run="", task=t, arch=a, key="l1-r0.5", strategy="supervised") + "_history.csv"
                for t in ("mri", "sr") for a in ("du", "deq", "varnet")}
    for question in spec["questions"].values():
        assert set(question["fits"].values()) <= written


def test_the_checks_run_the_defaults_with_their_overlay_and_publish(tmp_path, monkeypatch):
    """A check runs the workflow once on the defaults with its overlay (the no-harm check) and
    copies its outputs under docs/; a malformed check is refused naming it."""
    import spade.study.choices as choices

    spec = read_choices(ROOT / "config" / "choices.yaml")
    assert spec["checks"]["no_harm"]["overlay"] == {"no_harm_check": True}
    ran = []

    def fake_run(root, base, question, candidate, overlay, targets, cores):
        workdir = root / "choices" / question / candidate
        for target in targets:
            (workdir / target).parent.mkdir(parents=True, exist_ok=True)
            (workdir / target).write_text(f"{candidate}: {target}")
        ran.append((question, candidate, overlay))
        return workdir

    monkeypatch.setattr(choices, "run_candidate", fake_run)
    published = choices.run_checks(spec, tmp_path, ["config/config.yaml"], only=["no_harm"])
    assert ran == [("checks", "no_harm", {"no_harm_check": True})]
    assert (tmp_path / "docs/no_harm.md").read_text() == "no_harm: results/tables/no_harm.md" and len(published) == 2
    bad = tmp_path / "c.yaml"
    bad.write_text(yaml.safe_dump({"margin": 0.1, "questions": spec["questions"], "checks": {"x": {"overlay": {}}}}))
    with pytest.raises(ValueError, match="checks.x"):
        read_choices(bad)


def test_the_markdown_marks_each_choice():
    table = pd.DataFrame({"question": ["q", "q"], "fit": ["du", "du"], "candidate": ["a", "b"],
                          "overlay": ["{}", "{x: 1}"], "val_psnr": [26.0, 26.3], "best_epoch": [9, 10],
                          "epochs": [10, 10], "seconds": [100.0, 90.0], "chosen": [False, True]})
    text = choices_markdown(table, 0.1)
    assert "| du | b | `{x: 1}` | 26.30 | 10 | 10 | 90 | yes |" in text and "within 0.1 dB" in text


def _merged(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        out[key] = _merged(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def test_the_defaults_are_the_settings_chosen_on_validation():
    """docs/choices.csv's chosen rows, with each candidate as config/choices.yaml spells it
    out: applying the chosen candidate to config/config.yaml changes nothing the fit sees."""
    from spade.study import Study

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    spec = read_choices(ROOT / "config" / "choices.yaml")
    chosen = pd.read_csv(ROOT / "docs" / "choices.csv", dtype={"candidate": str})
    chosen = chosen[chosen.chosen]
    # every question is answered in docs/choices.csv, or listed as not yet run (`pending`)
    assert set(chosen.question) == set(spec["questions"]) - set(spec.get("pending") or [])
    for row in chosen.itertuples():
        overlay = spec["questions"][row.question]["candidates"][row.candidate]
        history = spec["questions"][row.question]["fits"][row.fit]
        stage, task = ("finetune" if "/finetuned/" in history else "train"), history.split("/")[2]
        default, answer = Study(config), Study(_merged(config, overlay))
        assert default.fit_options(stage, task, row.fit) == answer.fit_options(stage, task, row.fit), row
        # and a losing candidate would have changed it
        for name, other in spec["questions"][row.question]["candidates"].items():
            if name != row.candidate:
                assert Study(_merged(config, other)).fit_options(stage, task, row.fit) != \
                    default.fit_options(stage, task, row.fit), (row, name)
