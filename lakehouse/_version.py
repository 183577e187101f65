"""The package version (its own module so any layer can name the engine in commitInfo)."""

__version__ = "0.1.0"
