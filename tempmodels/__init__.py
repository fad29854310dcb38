"""tempmodels: temporal encoders for TR-level fMRI encoding models, measured."""
import os as _os

if _os.environ.get("TEMPMODELS_MODULES_FILE"):  # set by the book's executor: record what a chapter loads
    from .loaded import install as _install

    # taken out of the environment: a child process of the chapter must not overwrite its list
    _install(_os.environ.pop("TEMPMODELS_MODULES_FILE"))
