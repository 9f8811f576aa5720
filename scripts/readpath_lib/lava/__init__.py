"""readpath as LAVA jobs: artifacts.py builds what a device boots (a busybox ramdisk, the
readpath overlay with readpath_bench and its libraries, myfs per kernel), jobs.py writes job
definitions for a matrix of kernels x myfs options x profiles (validated with LAVA's own
schema) and the device configuration of a QEMU device, local.py runs a job with Debian's
lava-run, and importer.py turns finished jobs back into ordinary result folders.
`readpath lava` (commands/lava.py) is the command line; docs/lava.md the user's view."""
