"""What a model's pickle may import on Lambda without shipping code: the standard library,
the packages of requirements.txt (with what they pull in) and the app itself.

Anything else a pickle names must come with the version's code bundle. The list is kept by
hand so that it can be read here and in the clean interpreter that proves a model loads;
tests/registry/test_runtime_modules.py checks it against requirements.txt.
"""

from __future__ import annotations

import sys

# Top-level import names of requirements.txt's distributions and their dependencies.
PACKAGE_MODULES = frozenset(
    {
        "aws_lambda_powertools",
        "boto3",
        "botocore",
        "cloudpickle",
        "cramjam",
        "dateutil",
        "fastparquet",
        "fsspec",
        "jinja2",
        "jmespath",
        "joblib",
        "markupsafe",
        "narwhals",
        "numpy",
        "packaging",
        "pandas",
        "s3transfer",
        "scipy",
        "six",
        "sklearn",
        "threadpoolctl",
        "typing_extensions",
        "urllib3",
    }
)
# What Chalice zips besides the dependencies: the app, its library and Chalice's runtime.
APP_MODULES = frozenset({"app", "chalicelib", "chalice"})

RUNTIME_MODULES = (
    PACKAGE_MODULES
    | APP_MODULES
    | frozenset(sys.stdlib_module_names)
    | frozenset(sys.builtin_module_names)
)


def top_level(module: str) -> str:
    """'features.text' -> 'features'."""
    return module.partition(".")[0]


def in_runtime(module: str) -> bool:
    """Whether Lambda can import `module` (or its package) without the version's code."""
    return top_level(module) in RUNTIME_MODULES
