"""The study of one (validated) config, without Snakemake: which variants exist
(:mod:`spade.study.design`), where each artifact lives and what each job reads
(:mod:`spade.study.layout`), and what each job receives (:mod:`spade.study.job_settings`). The
workflow's input functions call :class:`Study`; so do the tests.

Path templates live in :mod:`spade.study.paths`; :class:`Study` formats them for inputs.
Nothing here imports torch.
"""

from __future__ import annotations

from spade.study.design import StudyDesign
from spade.study.job_settings import JobSettings
from spade.study.layout import StudyLayout


class Study(StudyDesign, StudyLayout, JobSettings):
    """The design, the layout and the options of one config: ``config`` as Snakemake holds it
    after validation; ``run`` the {run} of every model and metrics path ("" for the study
    itself, ``seeds/<seed>/`` for a repeat with a further seed)."""

    def __init__(self, config: dict, run: str = ""):
        self.config = config
        self.run = run
