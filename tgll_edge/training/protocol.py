"""The names and numbers training, evaluation and export share (no torch).

The PTB-XL benchmark protocol: folds 1-8 train (and calibrate int8), fold 9
selects the epoch and the thresholds and gates the int8 artifacts, fold 10 is
the test fold. The architectures and learning-rate schedules ``tgll-train``
offers, and the default int8 parity gate of ``tgll-export``. Every other module
imports these from here.
"""
from __future__ import annotations

TRAIN_FOLDS = (1, 2, 3, 4, 5, 6, 7, 8)
VAL_FOLD = 9
TEST_FOLD = 10

#: ``build_model`` names (each model class's ``arch``)
ARCHS = ("tgllnet", "resnet1d_wang", "xresnet1d101")
#: learning-rate schedules over a whole run
SCHEDULES = ("none", "onecycle", "cosine")

#: the int8 gate: largest fold-9 macro-AUC drop vs the torch fp32 model ...
MAX_AUC_DROP = 0.005
#: ... and largest fraction of fold-9 label decisions (at the card's thresholds) that may flip
MAX_FLIP_RATE = 0.02
