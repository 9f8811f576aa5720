"""The subcommands of scripts/readpath, one module each: HELP (the one-line summary), the
module docstring (the --help description), add_arguments(parser) and run(args) returning
the exit status. A command imports library modules (readpath_lib.*, cli) and never
another command: what two commands share lives in the library."""
