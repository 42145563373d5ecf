"""Builders of the HDF5 datasets and the reader that training and evaluation share.

``data.<task>.source`` picks the builder: ``embedded`` (default: images that installed
packages ship), ``fastmri`` (MRI: fastMRI ``.h5`` volumes on local disk) or ``folders``
(SR: DIV2K-style training folder, Set5/Set14/BSD100/Urban100-style test folders).
"""

from spade.study.data.h5 import DatasetFileError, H5Split, SplitWriter, nested_fraction, read_physics, write_split

__all__ = ["DatasetFileError", "H5Split", "SplitWriter", "SOURCES", "build_dataset", "nested_fraction", "read_physics",
           "write_split"]

SOURCES = {"mri": ("embedded", "fastmri"), "sr": ("embedded", "folders")}


def build_dataset(task: str, cfg: dict, seed: int, outputs: dict[str, str]) -> dict:
    """Build the three splits of ``task`` from ``cfg`` (the config's ``data.<task>``);
    returns the sample count per split. Nothing is downloaded: real data comes from the
    local paths in ``cfg``."""
    if task not in SOURCES:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(SOURCES)}")
    source = cfg.get("source", "embedded")
    if source not in SOURCES[task]:
        raise ValueError(f"data source {source!r} does not apply to task {task!r}; expected one of {SOURCES[task]}")
    if source == "embedded":
        from spade.study.data.embedded import build_dataset as build_embedded

        return build_embedded(task, cfg, seed, outputs)
    if source == "fastmri":
        from spade.study.data.fastmri import build_fastmri

        return build_fastmri(cfg, seed, outputs)
    from spade.study.data.folders import build_folders

    return build_folders(cfg, seed, outputs)
