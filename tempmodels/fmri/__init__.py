"""The fMRI side: a voxel simulator with known tuning, HRF and lag handling, noise ceilings,
voxelwise encoding models (himalaya ridge) from frozen TR embeddings, and a loader for real
Sherlock-format data (``sherlock``)."""
from .hrf import canonical_hrf, convolve_causal, convolve_centred, lagged, peak_latency_s
from .noise_ceiling import correlation_ceiling, explainable_variance

__all__ = ["canonical_hrf", "convolve_causal", "convolve_centred", "lagged", "peak_latency_s",
           "explainable_variance", "correlation_ceiling"]
