"""Datasets for training and evaluation: PTB-XL's six tasks and CPSC2018."""
from .cpsc2018 import CPSC_LABELS
from .dataset import EcgDataset, fit_window
from .load import TASKS, dataset_kind, load_dataset
from .ptbxl import PTBXL_TASKS

__all__ = ["TASKS", "PTBXL_TASKS", "CPSC_LABELS", "EcgDataset", "fit_window", "dataset_kind", "load_dataset"]
