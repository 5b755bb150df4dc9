"""sklambda: scikit-learn models in production on AWS serverless."""

__version__ = "0.1.0"
