"""TGLL Edge: 12-lead ECG inference with TGLLNet, from training to a wearable gateway.

The runtime (everything outside ``tgll_edge.training``) never imports torch.
"""
__version__ = "0.1.0"


def load_model(bundle=None, artifact=None, threads=1):
    """Load a model bundle (default: the bundled one); see :mod:`tgll_edge.runtime`."""
    from .runtime import load_model as _load

    return _load(bundle, artifact=artifact, threads=threads)
