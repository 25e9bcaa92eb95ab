"""Lead names, lead derivation (8 measured -> 12 standard) and reordering."""
from __future__ import annotations

import numpy as np

#: The 12 standard leads in PTB-XL order: the model's input order.
LEADS_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: The 8 channels an ADS1298 12-lead front end measures (PROTOCOL.md lead_set 0).
LEADS_8 = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

_CANON = {name.upper(): name for name in LEADS_12}


def canonical_lead(name: str) -> str:
    """'avr', 'AVR', ' aVR ' -> 'aVR'. Raises ValueError for unknown names."""
    key = name.strip().upper()
    if key not in _CANON:
        raise ValueError(f"unknown lead name {name!r}; expected one of {', '.join(LEADS_12)}")
    return _CANON[key]


def derive_12(x8: np.ndarray) -> np.ndarray:
    """(8, n) in LEADS_8 order -> (12, n) in LEADS_12 order (Einthoven, Goldberger)."""
    x8 = np.asarray(x8)
    if x8.ndim != 2 or x8.shape[0] != 8:
        raise ValueError(f"derive_12 expects (8, n) channels I, II, V1..V6; got shape {x8.shape}")
    lead_i, lead_ii = x8[0], x8[1]
    out = np.empty((12, x8.shape[1]), dtype=np.result_type(x8.dtype, 1.0))  # the dtype of lead_i / 2
    out[0] = lead_i
    out[1] = lead_ii
    np.subtract(lead_ii, lead_i, out=out[2])  # III
    out[3] = -(lead_i + lead_ii) / 2          # aVR
    out[4] = lead_i - lead_ii / 2             # aVL
    out[5] = lead_ii - lead_i / 2             # aVF
    out[6:] = x8[2:]
    return out


def to_12_leads(x: np.ndarray, labels) -> np.ndarray:
    """Arrange channels named by ``labels`` as the 12 leads in LEADS_12 order.

    Accepts the 12 leads in any order, or the 8 measured ones (I, II, V1..V6, any
    order), from which III, aVR, aVL, aVF are derived. Raises ValueError naming
    what is missing.
    """
    x = np.asarray(x)
    names = [canonical_lead(lab) for lab in labels]
    if x.ndim != 2 or x.shape[0] != len(names):
        raise ValueError(f"signal has shape {x.shape} but {len(names)} channel labels were given")
    index = {name: i for i, name in enumerate(names)}
    if all(name in index for name in LEADS_12):
        return x[[index[name] for name in LEADS_12]]
    missing8 = [name for name in LEADS_8 if name not in index]
    if missing8:
        raise ValueError(f"cannot build 12 leads: missing {', '.join(missing8)} (have {', '.join(names)})")
    return derive_12(x[[index[name] for name in LEADS_8]])
