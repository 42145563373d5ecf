"""Builders of the HDF5 datasets and the reader that training and evaluation share."""

from spade.data.h5 import DatasetFileError, H5Split, read_physics, write_split

__all__ = ["DatasetFileError", "H5Split", "read_physics", "write_split"]
