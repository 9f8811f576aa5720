"""`readpath vm`: its description, options and body live with the VM library for now."""
from ..vm import HELP, add_arguments, run  # noqa: F401
from ..vm import __doc__  # noqa: F401
