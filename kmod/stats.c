// SPDX-License-Identifier: GPL-2.0
/*
 * stats.c - myfs's per-mount counters and recorded call paths, and their
 * sysfs files: /sys/fs/myfs/<major>:<minor>/{stats,paths}.
 *
 * Counters are per-CPU so that counting does not become what is measured;
 * `stats` sums them when read.  With trace=once every distinct call stack
 * that reaches a hook is kept (up to MYFS_STACKS_PER_HOOK), with its calls.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/string.h>
#include <linux/vmalloc.h>
#include <linux/printk.h>
#include <linux/kallsyms.h>
#include <linux/jhash.h>
#include <linux/spinlock.h>

#include "compat.h"
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
	[MYFS_BIO_SUBMIT] = "bio_submit",
	[MYFS_BIO_PAGES] = "bio_pages",
	[MYFS_BIO_COMPLETE] = "bio_complete",
	[MYFS_BIO_ERROR] = "bio_error",
	[MYFS_DIRECT_READ] = "direct_read",
	[MYFS_READAHEAD_FOLIOS] = "readahead_folios",
	[MYFS_READ_FOLIO_PAGES] = "read_folio_pages",
};

/* /sys/fs/myfs */
static struct kobject *myfs_root_kobj;

static struct myfs_sb_info *kobj_to_sbi(struct kobject *kobj)
{
	return container_of(kobj, struct myfs_sb_info, kobj);
}

/* Counts a call by a stack already kept; false if the stack is new. */
static bool myfs_count_known(struct myfs_hook_paths *hp, unsigned int nr,
			     const unsigned long *entries, unsigned int depth, u32 hash)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct myfs_stack *st = &hp->stacks[i];

		if (st->hash == hash && st->nr_entries == depth &&
		    !memcmp(st->entries, entries, depth * sizeof(entries[0]))) {
			atomic64_inc(&st->calls);
			return true;
		}
	}
	return false;
}

/*
 * Called on every hook call while tracing (never with trace=off: myfs_trace
 * tests the option inline).  May run in interrupt context (bio_complete).
 */
void myfs_record_path(struct myfs_sb_info *sbi, enum myfs_counter hook)
{
	struct myfs_hook_paths *hp = &sbi->paths[hook];
	unsigned long entries[MYFS_TRACE_DEPTH];
	unsigned int depth, nr;
	unsigned long flags;
	u32 hash;

	if (READ_ONCE(sbi->opts.trace) == MYFS_TRACE_DMESG &&
	    __ratelimit(&sbi->dump_ratelimit)) {
		pr_info("myfs: hook %s reached from:\n", myfs_counter_names[hook]);
		dump_stack();
	}
	/* Skip this function; the hook's wrapper is the first frame shown. */
	depth = stack_trace_save(entries, MYFS_TRACE_DEPTH, 1);
	hash = jhash(entries, depth * sizeof(entries[0]), depth);
	if (myfs_count_known(hp, smp_load_acquire(&hp->nr), entries, depth, hash))
		return;
	raw_spin_lock_irqsave(&hp->lock, flags);
	nr = hp->nr;
	if (!myfs_count_known(hp, nr, entries, depth, hash)) {
		if (nr < MYFS_STACKS_PER_HOOK) {
			struct myfs_stack *st = &hp->stacks[nr];

			st->hash = hash;
			st->nr_entries = depth;
			memcpy(st->entries, entries, depth * sizeof(entries[0]));
			atomic64_set(&st->calls, 1);
			smp_store_release(&hp->nr, nr + 1);
		} else {
			atomic64_inc(&hp->unrecorded);
		}
	}
	raw_spin_unlock_irqrestore(&hp->lock, flags);
}

void myfs_paths_clear(struct myfs_sb_info *sbi)
{
	unsigned long flags;
	int i;

	for (i = 0; i < MYFS_NR_COUNTERS; i++) {
		struct myfs_hook_paths *hp = &sbi->paths[i];

		raw_spin_lock_irqsave(&hp->lock, flags);
		smp_store_release(&hp->nr, 0);
		atomic64_set(&hp->unrecorded, 0);
		raw_spin_unlock_irqrestore(&hp->lock, flags);
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

/*
 * The `paths` text (docs/contracts.md): per hook, per kept stack in the
 * order first seen, `hook NAME calls N`, one frame per line, a blank line;
 * then `hook NAME calls N unrecorded` for the stacks past the kept ones.
 */
static int myfs_paths_format(struct myfs_sb_info *sbi, char **textp, size_t *lenp)
{
	unsigned int nr[MYFS_NR_COUNTERS];
	size_t size = 1, len = 0;
	unsigned int i, j, k;
	char *text;

	/* Stacks added after this are left for the next read. */
	for (i = 0; i < MYFS_NR_COUNTERS; i++) {
		nr[i] = smp_load_acquire(&sbi->paths[i].nr);
		for (j = 0; j < nr[i]; j++)
			size += 64 + sbi->paths[i].stacks[j].nr_entries * (KSYM_SYMBOL_LEN + 1);
		size += 64;
	}
	text = kvmalloc(size, GFP_KERNEL);
	if (!text)
		return -ENOMEM;
	for (i = 0; i < MYFS_NR_COUNTERS; i++) {
		struct myfs_hook_paths *hp = &sbi->paths[i];
		s64 rest = atomic64_read(&hp->unrecorded);

		for (j = 0; j < nr[i]; j++) {
			struct myfs_stack *st = &hp->stacks[j];

			len += scnprintf(text + len, size - len, "hook %s calls %lld\n",
					 myfs_counter_names[i],
					 (long long)atomic64_read(&st->calls));
			for (k = 0; k < st->nr_entries; k++)
				len += scnprintf(text + len, size - len, "%pS\n",
						 (void *)st->entries[k]);
			len += scnprintf(text + len, size - len, "\n");
		}
		if (rest)
			len += scnprintf(text + len, size - len,
					 "hook %s calls %lld unrecorded\n\n",
					 myfs_counter_names[i], (long long)rest);
	}
	*textp = text;
	*lenp = len;
	return 0;
}

/*
 * sysfs hands a bin file's reads over in chunks of a page.  Counts move
 * while tracing, so a text formatted afresh per chunk could tear; each open
 * file reads the snapshot formatted at its offset 0 instead.
 */
static ssize_t paths_read(struct file *file, struct kobject *kobj,
			  myfs_bin_attr_t *attr, char *buf, loff_t off,
			  size_t count)
{
	struct myfs_sb_info *sbi = kobj_to_sbi(kobj);
	struct myfs_paths_snapshot *snap = &sbi->snapshot;
	ssize_t ret;

	mutex_lock(&snap->lock);
	if (off == 0 || snap->reader != file || !snap->text) {
		char *text;
		size_t len;

		ret = myfs_paths_format(sbi, &text, &len);
		if (ret)
			goto out;
		kvfree(snap->text);
		snap->text = text;
		snap->len = len;
		snap->reader = file;
	}
	ret = memory_read_from_buffer(buf, count, &off, snap->text, snap->len);
out:
	mutex_unlock(&snap->lock);
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

static myfs_bin_attr_t *myfs_sb_bin_attrs[] = {
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
	kvfree(sbi->snapshot.text);
	mutex_destroy(&sbi->snapshot.lock);
	kvfree(sbi->paths);
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
	int i;

	if (!sbi)
		return NULL;
	sbi->counters = alloc_percpu(struct myfs_counters);
	sbi->paths = kvcalloc(MYFS_NR_COUNTERS, sizeof(*sbi->paths), GFP_KERNEL);
	if (!sbi->counters || !sbi->paths) {
		kvfree(sbi->paths);
		free_percpu(sbi->counters);
		kfree(sbi);
		return NULL;
	}
	for (i = 0; i < MYFS_NR_COUNTERS; i++)
		raw_spin_lock_init(&sbi->paths[i].lock);
	mutex_init(&sbi->snapshot.lock);
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

/*
 * Removes the directory (readers in progress finish first), so that the
 * device number can be reused; the sbi lives on until myfs_sbi_put().
 */
void myfs_sysfs_del(struct myfs_sb_info *sbi)
{
	if (sbi->kobj.state_in_sysfs)
		kobject_del(&sbi->kobj);
}

/* Frees the sbi (after myfs_sysfs_del, or when it never was published). */
void myfs_sbi_put(struct myfs_sb_info *sbi)
{
	myfs_sysfs_del(sbi);
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
