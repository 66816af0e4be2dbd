"""Vuoro: the `vuoro` command (one subcommand per role) and the demo."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vuoro")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
