"""The command line (``boamps-etl``): :data:`cli` is the click group, :func:`main` the entry
point. The commands live in one module per group; see :mod:`boamps_etl.cli.main`."""

from .main import cli, main

__all__ = ["cli", "main"]
