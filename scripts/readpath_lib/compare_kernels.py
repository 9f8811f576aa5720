"""Placeholder until the compare_kernels subcommand lands."""

from .errors import RunError

HELP = "(not built yet)"


def add_arguments(parser):
    pass


def run(args):
    raise RunError("not built yet")
