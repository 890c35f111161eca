"""Quality classifiers: training (Lightning), evaluation (scikit-learn), export and runtime.

Only the runtime is imported here, so `from curate.classify import QualityClassifier` needs
neither torch nor transformers.
"""

from curate.classify.bundle import BundleError
from curate.classify.runtime import QualityClassifier

__all__ = ["BundleError", "QualityClassifier"]
