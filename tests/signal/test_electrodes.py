"""Electrode physics (tgll_edge/signal/electrodes.py): the table, inverting the firmware's
lead-off rule, devices with fewer leads, the emulator's schedule syntax."""
import numpy as np
import pytest

from tgll_edge.signal.electrodes import (ELECTRODES, available_leads, channel_off_bits, lead_use, leads_lost,
                                         parse_electrode_off, to_12_present)
from tgll_edge.signal.leads import LEADS_8, LEADS_12

V = ["V1", "V2", "V3", "V4", "V5", "V6"]
LIMB_AUG = ["aVR", "aVL", "aVF"]


@pytest.mark.parametrize("electrode, lost", [
    ("RA", ["I", "II"] + LIMB_AUG + V),
    ("LA", ["I", "III"] + LIMB_AUG + V),
    ("LL", ["II", "III"] + LIMB_AUG + V),
    *[(v, [v]) for v in V],
])
def test_the_table(electrode, lost):
    assert leads_lost([electrode]) == [lead for lead in LEADS_12 if lead in lost]


def test_unknown_electrode():
    with pytest.raises(ValueError, match="'RL'"):
        leads_lost(["RL"])


def _flagged(labels, electrodes):
    """The channels the firmware flags for these electrodes off."""
    bits = channel_off_bits(labels, electrodes)
    return [lab for i, lab in enumerate(labels) if bits >> i & 1]


def test_firmware_rule_bits():
    assert _flagged(LEADS_8, ["V3"]) == ["V3"]
    assert _flagged(LEADS_8, ["LA"]) == ["I"] + V
    assert _flagged(LEADS_8, ["RA"]) == list(LEADS_8)
    assert _flagged(("I", "II", "V2"), ["LL"]) == ["II", "V2"]


@pytest.mark.parametrize("labels", [LEADS_8, LEADS_12])
@pytest.mark.parametrize("electrode", list(ELECTRODES))
def test_one_electrode_off_is_found_from_the_bits(labels, electrode):
    use = lead_use(labels, _flagged(labels, [electrode]))
    assert use.electrodes_off == [electrode]
    lost = set(leads_lost([electrode]))
    if labels == LEADS_8:  # III, aVR, aVL, aVF are derived from I and II: lost with either
        if lost & {"I", "II"}:
            lost |= {"III"} | set(LIMB_AUG)
    assert use.leads == [lead for lead in LEADS_12 if lead not in lost]


def test_v3_off_keeps_eleven_leads():
    use = lead_use(LEADS_8, ["V3"])
    assert use.leads == [lead for lead in LEADS_12 if lead != "V3"] and use.electrodes_off == ["V3"]


def test_la_off_loses_limb_leads_using_la_and_every_v_lead():
    use = lead_use(LEADS_8, ["I"] + V)
    assert use.electrodes_off == ["LA"] and use.leads == ["II"]
    assert use.unusable == ["I", "III", "aVR", "aVL", "aVF"] + V


def test_ra_off_on_an_8_channel_device_leaves_nothing():
    use = lead_use(LEADS_8, list(LEADS_8))
    assert use.electrodes_off == ["RA"] and use.leads == []


def test_a_lone_flag_that_no_electrode_explains_loses_that_lead_only():
    # lead I saturated (quality gate) while II and every V lead are fine: LA and RA are on
    use = lead_use(LEADS_8, ["I"])
    assert use.electrodes_off == []
    assert use.leads == ["II"] + V  # III, aVR, aVL, aVF are derived from I


def test_ambiguous_single_lead_device():
    use = lead_use(("I",), ["I"])
    assert use.electrodes_off == ["RA or LA"] and use.leads == []
    assert use.missing == [lead for lead in LEADS_12 if lead != "I"]


def test_custom_lead_set_i_ii_v2():
    available, derived = available_leads(("I", "II", "V2"))
    assert available == ("I", "II", "III", "aVR", "aVL", "aVF", "V2")
    assert derived == ("III", "aVR", "aVL", "aVF")
    use = lead_use(("I", "II", "V2"), ["I", "V2"])  # LA off on that device
    assert use.electrodes_off == ["LA"] and use.leads == ["II"]
    # derived leads exist only with both sources
    assert available_leads(("II", "V2"))[0] == ("II", "V2")


def test_unknown_label_names_the_label():
    with pytest.raises(ValueError, match="'V7'"):
        available_leads(("I", "II", "V7"))
    with pytest.raises(ValueError, match="'II' appears twice"):
        available_leads(("I", "II", "ii"))


def test_to_12_present():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 50))
    x12, present = to_12_present(x, ("V2", "I", "II"))
    assert [lead for lead, p in zip(LEADS_12, present) if p] == ["I", "II", "III", "aVR", "aVL", "aVF", "V2"]
    np.testing.assert_allclose(x12[2], x[2] - x[1])
    np.testing.assert_allclose(x12[LEADS_12.index("V2")], x[0])
    assert not x12[LEADS_12.index("V1")].any()


def test_parse_electrode_off():
    assert parse_electrode_off("V3:20-40, la:60-70.5") == [("V3", 20.0, 40.0), ("LA", 60.0, 70.5)]
    for bad in ("V7:1-2", "V3:40-20", "V3", "V3:a-b", ""):
        with pytest.raises(ValueError):
            parse_electrode_off(bad)
