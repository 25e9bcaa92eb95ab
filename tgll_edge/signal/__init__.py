"""Signal conditioning shared by training and the runtime (numpy only: the runtime never imports scipy)."""
from .filters import StreamingFilter, design
from .leads import LEADS_8, LEADS_12, canonical_lead, derive_12, to_12_leads
from .preprocess import DEFAULT_SETTINGS, Preprocessor, preprocess, validate_settings
from .resample import StreamingResampler, resample
from .scaler import StandardScaler

__all__ = [
    "LEADS_8", "LEADS_12", "canonical_lead", "derive_12", "to_12_leads",
    "StreamingFilter", "design", "StreamingResampler", "resample",
    "DEFAULT_SETTINGS", "Preprocessor", "preprocess", "validate_settings", "StandardScaler",
]
