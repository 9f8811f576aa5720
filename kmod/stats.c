// SPDX-License-Identifier: GPL-2.0
/*
 * stats.c - myfs's per-mount counters and recorded call paths, and their
 * sysfs files: /sys/fs/myfs/<major>:<minor>/{stats,paths}.
 *
 * Counters are per-CPU so that counting does not become what is measured;
 * `stats` sums them when read.  Paths are recorded once per hook.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <linux/printk.h>
#include <linux/kallsyms.h>

#include "myfs.h"

const char *const myfs_counter_names[MYFS_NR_COUNTERS] = {
	[MYFS_READ] = "read",
	[MYFS_READ_ITER] = "read_iter",
	[MYFS_READ_FOLIO] = "read_folio",
	[MYFS_READAHEAD] = "readahead",
	[MYFS_READAHEAD_PAGES] = "readahead_pages",
	[MYFS_MMAP] = "mmap",
	[MYFS_FAULT] = "fault",
	[MYFS_FAULT_MAJOR] = "fault_major",
	[MYFS_FAULT_MINOR] = "fault_minor",
	[MYFS_FAULT_ERROR] = "fault_error",
	[MYFS_MAP_PAGES] = "map_pages",
	[MYFS_MAP_PAGES_PAGES] = "map_pages_pages",
	[MYFS_PAGE_MKWRITE] = "page_mkwrite",
	[MYFS_WRITE_ITER] = "write_iter",
	[MYFS_FSYNC] = "fsync",
};

/* /sys/fs/myfs */
static struct kobject *myfs_root_kobj;

static struct myfs_sb_info *kobj_to_sbi(struct kobject *kobj)
{
	return container_of(kobj, struct myfs_sb_info, kobj);
}

void myfs_record_path(struct myfs_sb_info *sbi, enum myfs_counter hook)
{
	struct myfs_path *path = &sbi->paths[hook];

	if (READ_ONCE(sbi->opts.trace) == MYFS_TRACE_DMESG &&
	    __ratelimit(&sbi->dump_ratelimit)) {
		pr_info("myfs: hook %s reached from:\n", myfs_counter_names[hook]);
		dump_stack();
	}
	if (test_bit(0, &path->claimed) || test_and_set_bit(0, &path->claimed))
		return;
	/* Skip this function; the hook's wrapper is the first frame shown. */
	path->nr_entries = stack_trace_save(path->entries, MYFS_TRACE_DEPTH, 1);
	smp_store_release(&path->ready, true);
}

void myfs_paths_clear(struct myfs_sb_info *sbi)
{
	int i;

	for (i = 0; i < MYFS_NR_COUNTERS; i++) {
		WRITE_ONCE(sbi->paths[i].ready, false);
		clear_bit(0, &sbi->paths[i].claimed);
	}
}

static ssize_t stats_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	struct myfs_sb_info *sbi = kobj_to_sbi(kobj);
	u64 sums[MYFS_NR_COUNTERS] = { 0 };
	int cpu, i, len = 0;

	for_each_possible_cpu(cpu) {
		struct myfs_counters *c = per_cpu_ptr(sbi->counters, cpu);

		for (i = 0; i < MYFS_NR_COUNTERS; i++)
			sums[i] += READ_ONCE(c->count[i]);
	}
	for (i = 0; i < MYFS_NR_COUNTERS; i++)
		len += sysfs_emit_at(buf, len, "%s %llu\n", myfs_counter_names[i],
				     sums[i]);
	return len;
}

static ssize_t stats_store(struct kobject *kobj, struct kobj_attribute *attr,
			   const char *buf, size_t count)
{
	struct myfs_sb_info *sbi = kobj_to_sbi(kobj);
	int cpu, i;

	/* Only "0" (a reset) is meaningful; anything else is a mistake. */
	if (!sysfs_streq(buf, "0"))
		return -EINVAL;
	for_each_possible_cpu(cpu) {
		struct myfs_counters *c = per_cpu_ptr(sbi->counters, cpu);

		for (i = 0; i < MYFS_NR_COUNTERS; i++)
			WRITE_ONCE(c->count[i], 0);
	}
	return count;
}

static struct kobj_attribute stats_attr = __ATTR_RW_MODE(stats, 0644);

/* Formats every recorded path; the result may exceed a page, hence a bin file. */
static size_t myfs_paths_format(struct myfs_sb_info *sbi, char *buf, size_t size)
{
	size_t len = 0;
	unsigned int i, j;

	for (i = 0; i < MYFS_NR_COUNTERS; i++) {
		struct myfs_path *path = &sbi->paths[i];

		if (!smp_load_acquire(&path->ready))
			continue;
		len += scnprintf(buf + len, size - len, "hook %s\n",
				 myfs_counter_names[i]);
		for (j = 0; j < path->nr_entries; j++)
			len += scnprintf(buf + len, size - len, "%pS\n",
					 (void *)path->entries[j]);
		len += scnprintf(buf + len, size - len, "\n");
	}
	return len;
}

#define MYFS_PATHS_BUF_SIZE (MYFS_NR_COUNTERS * MYFS_TRACE_DEPTH * (KSYM_SYMBOL_LEN + 2))

static ssize_t paths_read(struct file *file, struct kobject *kobj,
			  struct bin_attribute *attr, char *buf, loff_t off,
			  size_t count)
{
	struct myfs_sb_info *sbi = kobj_to_sbi(kobj);
	ssize_t ret;
	size_t len;
	char *text;

	text = kvmalloc(MYFS_PATHS_BUF_SIZE, GFP_KERNEL);
	if (!text)
		return -ENOMEM;
	len = myfs_paths_format(sbi, text, MYFS_PATHS_BUF_SIZE);
	ret = memory_read_from_buffer(buf, count, &off, text, len);
	kvfree(text);
	return ret;
}

static struct bin_attribute paths_attr = {
	.attr = { .name = "paths", .mode = 0444 },
	.read = paths_read,
};

static struct attribute *myfs_sb_attrs[] = {
	&stats_attr.attr,
	NULL,
};

static struct bin_attribute *myfs_sb_bin_attrs[] = {
	&paths_attr,
	NULL,
};

static const struct attribute_group myfs_sb_group = {
	.attrs = myfs_sb_attrs,
	.bin_attrs = myfs_sb_bin_attrs,
};

static const struct attribute_group *myfs_sb_groups[] = {
	&myfs_sb_group,
	NULL,
};

static void myfs_sbi_release(struct kobject *kobj)
{
	struct myfs_sb_info *sbi = kobj_to_sbi(kobj);

	ratelimit_state_exit(&sbi->dump_ratelimit);
	free_percpu(sbi->counters);
	kfree(sbi);
}

static const struct kobj_type myfs_sb_ktype = {
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = myfs_sb_groups,
	.release = myfs_sbi_release,
};

/* The kobject owns the sbi from the start: myfs_sbi_free() always frees it. */
struct myfs_sb_info *myfs_sbi_alloc(void)
{
	struct myfs_sb_info *sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);

	if (!sbi)
		return NULL;
	sbi->counters = alloc_percpu(struct myfs_counters);
	if (!sbi->counters) {
		kfree(sbi);
		return NULL;
	}
	/* trace=dmesg: like the seed's dump_stack(), but a log, not a flood. */
	ratelimit_state_init(&sbi->dump_ratelimit, 5 * HZ, 10);
	ratelimit_set_flags(&sbi->dump_ratelimit, RATELIMIT_MSG_ON_RELEASE);
	kobject_init(&sbi->kobj, &myfs_sb_ktype);
	return sbi;
}

/* Publishes the mount's directory, /sys/fs/myfs/<major>:<minor>. */
int myfs_sysfs_add(struct myfs_sb_info *sbi, dev_t dev)
{
	return kobject_add(&sbi->kobj, myfs_root_kobj, "%u:%u", MAJOR(dev),
			   MINOR(dev));
}

/* Removes the directory (readers in progress finish first) and frees the sbi. */
void myfs_sbi_free(struct myfs_sb_info *sbi)
{
	if (sbi->kobj.state_in_sysfs)
		kobject_del(&sbi->kobj);
	kobject_put(&sbi->kobj);
}

int myfs_sysfs_init(void)
{
	myfs_root_kobj = kobject_create_and_add(MYFS_NAME, fs_kobj);
	return myfs_root_kobj ? 0 : -ENOMEM;
}

void myfs_sysfs_exit(void)
{
	kobject_put(myfs_root_kobj);
}
