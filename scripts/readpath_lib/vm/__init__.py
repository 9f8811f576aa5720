"""Kernels in QEMU as a library: resolve_kernel() finds (and installs) a kernel,
build_myfs()/build_module() build modules for it, run_in_vm() boots it and runs one
command. `readpath vm` (commands/vm.py) describes the guest it gives."""

from .guest import VmResult, run_in_vm
from .kernels import Kernel, build_module, build_myfs, resolve_kernel

__all__ = ["run_in_vm", "VmResult", "resolve_kernel", "build_myfs", "build_module", "Kernel"]
