// SPDX-License-Identifier: GPL-2.0
/*
 * vm_warn: a module whose only job is to WARN once when loaded, so the guest tests can
 * prove that a kernel warning in a readpath guest fails the run.
 */
#include <linux/bug.h>
#include <linux/module.h>

static int __init vm_warn_init(void)
{
	WARN(1, "vm_warn: deliberate warning for the readpath vm tests\n");
	return 0;
}

static void __exit vm_warn_exit(void)
{
}

module_init(vm_warn_init);
module_exit(vm_warn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("readpath test helper: WARN on load");
