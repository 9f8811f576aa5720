"""The subcommands of scripts/readpath, one module each: the module docstring (the --help
description), add_arguments(parser) and run(args) returning the exit status; the one-line
summary is scripts/readpath's (SUBCOMMANDS), which imports only the chosen command's module.
A command imports library modules (readpath_lib.*, cli) and never another command: what
two commands share lives in the library."""
