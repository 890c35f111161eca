"""curate: build high-quality training corpora for Nordic and other low-resource languages."""

__version__ = "0.1.0"
