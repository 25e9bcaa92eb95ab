"""Electrodes, not channels, come off: which leads a window can still use.

A 12-lead ECG comes from nine electrodes: the limb electrodes RA, LA, LL (RL only
drives the common mode) and the chest electrodes V1..V6, each measured against
Wilson's central terminal WCT = (RA + LA + LL) / 3. So one electrode feeds several leads:

    lead   electrodes it uses          lost when ... is off
    I      LA, RA                      LA or RA
    II     LL, RA                      LL or RA
    III    LL, LA                      LL or LA
    aVR    RA, LA, LL                  RA, LA or LL (Goldberger's terminal uses the other two)
    aVL    RA, LA, LL                  RA, LA or LL
    aVF    RA, LA, LL                  RA, LA or LL
    Vn     Vn, RA, LA, LL (WCT)        Vn, RA, LA or LL

    electrode off   leads lost
    V1 .. V6        that V lead only
    RA              I, II, aVR, aVL, aVF, V1..V6  (III kept where the device measures it)
    LA              I, III, aVR, aVL, aVF, V1..V6 (II kept)
    LL              II, III, aVR, aVL, aVF, V1..V6 (I kept)

Derived leads (III, aVR, aVL, aVF computed from I and II on a ``lead_set = 0`` device)
exist only while both I and II do; losing either loses them too (so RA off on an
8-channel device loses all 12).

The firmware (``firmware_bridge/README.md``) flags a channel off when one of its
electrodes is, the V channels also when RA, LA or LL is: exactly the table above. The
host inverts it: from the channels flagged in a window (lead-off bits, and the quality
gate's flat / saturated / NaN verdicts on measured channels) and the channels that are
fine, it finds the smallest set of electrodes that explains them best (fewest channels
predicted wrongly, then fewest electrodes; a tie is reported as alternatives, "LA or
RA", and costs the leads of every alternative). The leads lost are the flagged ones,
those that use an electrode found off, and derived leads whose sources are lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

import numpy as np

from .leads import LEADS_12, canonical_lead

LIMB_ELECTRODES = ("RA", "LA", "LL")
ELECTRODES = LIMB_ELECTRODES + ("V1", "V2", "V3", "V4", "V5", "V6")
#: lead -> the electrodes whose signal it needs
LEAD_ELECTRODES: dict[str, frozenset] = {
    "I": frozenset({"LA", "RA"}), "II": frozenset({"LL", "RA"}), "III": frozenset({"LL", "LA"}),
    "aVR": frozenset(LIMB_ELECTRODES), "aVL": frozenset(LIMB_ELECTRODES), "aVF": frozenset(LIMB_ELECTRODES),
    **{f"V{i}": frozenset({f"V{i}", *LIMB_ELECTRODES}) for i in range(1, 7)}}
#: leads the host can derive, and from what (PROTOCOL.md, "Units and leads")
DERIVED_FROM = {"III": ("I", "II"), "aVR": ("I", "II"), "aVL": ("I", "II"), "aVF": ("I", "II")}


def leads_lost(electrodes_off) -> list[str]:
    """The 12-lead table: the leads (LEADS_12 order) that need any of ``electrodes_off``."""
    off = set(electrodes_off)
    unknown = off - set(ELECTRODES)
    if unknown:
        raise ValueError(f"unknown electrode {sorted(unknown)[0]!r}; expected one of {', '.join(ELECTRODES)}")
    return [lead for lead in LEADS_12 if LEAD_ELECTRODES[lead] & off]


def available_leads(channel_labels) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A device's channels -> (the 12 leads it gives, measured or derived, LEADS_12 order;
    the derived ones). Unknown labels: ValueError naming the label; a label twice too."""
    names = []
    for lab in channel_labels:
        try:
            names.append(canonical_lead(str(lab)))
        except ValueError:
            raise ValueError(f"unknown channel label {str(lab).strip()!r} from the device; the runtime knows "
                             f"the leads {', '.join(LEADS_12)}") from None
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"channel label {dup[0]!r} appears twice in the device's labels {', '.join(names)}")
    have = set(names)
    derived = tuple(lead for lead, src in DERIVED_FROM.items() if lead not in have and set(src) <= have)
    return tuple(lead for lead in LEADS_12 if lead in have or lead in derived), derived


@dataclass
class LeadUse:
    """One window's verdict: which of the 12 leads the model may use and why the others not."""

    mask: np.ndarray                                   # (12,) bool, LEADS_12 order
    electrodes_off: list = field(default_factory=list)  # e.g. ["LA"], ["V3"], ["LA or RA"]
    unusable: list = field(default_factory=list)        # leads the device gives but the window cannot use
    missing: list = field(default_factory=list)         # leads the device does not give at all

    @property
    def leads(self) -> list[str]:
        return [lead for lead, ok in zip(LEADS_12, self.mask) if ok]


@lru_cache(maxsize=1024)
def explain(measured: tuple, bad: frozenset) -> tuple[tuple[frozenset, ...], frozenset]:
    """The electrode sets that best explain which ``measured`` channels are ``bad``: fewest
    channels predicted wrongly, then fewest electrodes. Returns (the tied best sets, the bad
    channels no electrode explains)."""
    best, best_key = [], None
    # the optimum never needs more electrodes than there are bad channels
    for size in range(0, min(len(bad), len(ELECTRODES)) + 1):
        for subset in combinations(ELECTRODES, size):
            s = frozenset(subset)
            predicted = {c for c in measured if LEAD_ELECTRODES[c] & s}
            key = (len(predicted ^ bad), size)
            if best_key is None or key < best_key:
                best, best_key = [s], key
            elif key == best_key:
                best.append(s)
    covered = set().union(*[{c for c in measured if LEAD_ELECTRODES[c] & s} for s in best]) if best else set()
    return tuple(best), frozenset(bad - covered)


def lead_use(channel_labels, bad_channels=(), bad_leads=()) -> LeadUse:
    """Which of the 12 leads one window can use.

    channel_labels: the device's channels (INFO labels); bad_channels: those flagged in the
    window (lead-off bits, or the quality gate on a measured channel); bad_leads: further
    leads the quality gate flagged (a derived lead, say): lost themselves, no electrode inferred.
    """
    available, derived = available_leads(channel_labels)
    measured = tuple(lead for lead in available if lead not in derived)
    bad = frozenset(canonical_lead(c) for c in bad_channels) & frozenset(measured)
    lost = set(bad) | {canonical_lead(lead) for lead in bad_leads}
    electrodes: list[str] = []
    if bad:
        sets, _ = explain(measured, bad)
        for s in sets:
            lost |= set(leads_lost(s))
        common = frozenset.intersection(*sets) if sets else frozenset()
        electrodes = [e for e in ELECTRODES if e in common]
        rest = [sorted(s - common, key=ELECTRODES.index) for s in sets if s - common]
        if rest:
            electrodes.append(" or ".join("+".join(r) for r in rest))
    for lead in derived:  # a derived lead needs its sources
        if any(src in lost for src in DERIVED_FROM[lead]):
            lost.add(lead)
    mask = np.array([lead in available and lead not in lost for lead in LEADS_12], dtype=bool)
    return LeadUse(mask, electrodes, [lead for lead in available if lead in lost],
                   [lead for lead in LEADS_12 if lead not in available])


def gate(quality, channel_labels, min_leads: int = 1) -> LeadUse:
    """A lead-set-aware model's quality gate for one window: the leads the gate flagged
    (``quality`` from :func:`tgll_edge.signal.quality.assess` on the leads the device gives)
    and those whose lead-off bit was set for any of its samples are taken out through the
    electrode table, not the window; ``quality`` is skipped (with its reason naming the
    electrodes off) only when fewer than ``min_leads`` (at least 1) usable leads are left.
    Its flags and per-lead lists are kept as they are."""
    channels = {canonical_lead(str(c)) for c in channel_labels}
    flagged = {canonical_lead(lead) for lead in quality.flat + quality.saturated + quality.nonfinite}
    bad_channels = {canonical_lead(str(c)) for c in quality.lead_off} | (flagged & channels)
    use = lead_use(channel_labels, bad_channels, flagged - channels)
    n, need = int(use.mask.sum()), max(1, int(min_leads))
    if n >= need:
        quality.reasons, quality.skipped = [], False
        return use
    what = "no usable lead left" if n == 0 else \
        f"only {n} usable lead{'s' if n > 1 else ''} ({', '.join(use.leads)}); the model needs {need}"
    detail = (["electrodes off: " + ", ".join(use.electrodes_off)] if use.electrodes_off else []) + \
        (list(quality.reasons) or ([f"unusable: {', '.join(use.unusable)}"] if use.unusable else []))
    quality.reasons = [what + (f" ({'; '.join(detail)})" if detail else "")]
    quality.skipped = True
    return use


def channel_off_bits(channel_labels, electrodes_off) -> int:
    """The lead-off bits a device following the firmware's rule sets (``firmware_bridge/README.md``):
    channel i when one of its electrodes is off, the V channels also when RA, LA or LL is."""
    off = set(electrodes_off)
    bits = 0
    for i, lab in enumerate(channel_labels):
        if LEAD_ELECTRODES[canonical_lead(str(lab))] & off:
            bits |= 1 << i
    return bits


def parse_electrode_off(text: str) -> list[tuple[str, float, float]]:
    """'V3:20-40,LA:60-70' -> [('V3', 20.0, 40.0), ('LA', 60.0, 70.0)] (seconds of device time,
    end excluded). ValueError naming what is wrong."""
    out = []
    for item in (p.strip() for p in str(text).split(",")):
        if not item:
            continue
        name, sep, span = item.partition(":")
        electrode = name.strip().upper()
        if not sep or electrode not in ELECTRODES:
            raise ValueError(f"bad electrode-off item {item!r}: expected ELECTRODE:START-END with ELECTRODE "
                             f"one of {', '.join(ELECTRODES)} and times in seconds, e.g. V3:20-40")
        a, dash, b = span.partition("-")
        try:
            t0, t1 = float(a), float(b)
        except ValueError:
            t0 = t1 = float("nan")
        if not dash or not (0 <= t0 < t1):
            raise ValueError(f"bad electrode-off span in {item!r}: expected START-END seconds with "
                             "0 <= START < END, e.g. V3:20-40")
        out.append((electrode, t0, t1))
    if not out:
        raise ValueError("empty electrode-off schedule; expected e.g. V3:20-40,LA:60-70")
    return out


def to_12_present(x: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    """Channels named ``labels`` -> ((12, n) in LEADS_12 order, (12,) bool: the leads there).
    Measured leads are copied, III/aVR/aVL/aVF derived from I and II where not measured, the
    others 0. Unknown or repeated labels: ValueError naming the label."""
    from .leads import derive_12

    x = np.asarray(x)
    available, derived = available_leads(labels)
    names = [canonical_lead(str(lab)) for lab in labels]
    if x.ndim != 2 or x.shape[0] != len(names):
        raise ValueError(f"signal has shape {x.shape} but {len(names)} channel labels were given")
    out = np.zeros((12, x.shape[1]), dtype=np.result_type(x.dtype, np.float32))
    for j, lead in enumerate(LEADS_12):
        if lead in names:
            out[j] = x[names.index(lead)]
    if derived:
        full = derive_12(np.concatenate([x[[names.index("I"), names.index("II")]],
                                         np.zeros((6, x.shape[1]), dtype=x.dtype)]))
        for lead in derived:
            out[LEADS_12.index(lead)] = full[LEADS_12.index(lead)]
    return out, np.array([lead in available for lead in LEADS_12], dtype=bool)
