/* SPDX-License-Identifier: GPL-2.0 */
/*
 * myfs.h - shared declarations of myfs, the instrumented page-cache
 * filesystem of readpath: mount options, per-mount state, hook counters.
 */
#ifndef MYFS_H
#define MYFS_H

#include <linux/fs.h>
#include <linux/kobject.h>
#include <linux/percpu.h>
#include <linux/ratelimit.h>
#include <linux/stacktrace.h>

#define MYFS_NAME "myfs"
#define MYFS_MAGIC 0x6d796673		/* "myfs" */

/* Upper bound for read_latency_ns: one second per read_folio. */
#define MYFS_MAX_READ_LATENCY_NS 1000000000ULL

/*
 * Hooks, in the order `stats` prints them (docs/contracts.md).  Each has a
 * counter; the first ones with a wrapper also have a recorded call path.
 */
enum myfs_counter {
	MYFS_READ,
	MYFS_READ_ITER,
	MYFS_READ_FOLIO,
	MYFS_READAHEAD,
	MYFS_READAHEAD_PAGES,
	MYFS_MMAP,
	MYFS_FAULT,
	MYFS_FAULT_MAJOR,
	MYFS_FAULT_MINOR,
	MYFS_FAULT_ERROR,
	MYFS_MAP_PAGES,
	MYFS_MAP_PAGES_PAGES,
	MYFS_PAGE_MKWRITE,
	MYFS_WRITE_ITER,
	MYFS_FSYNC,
	MYFS_NR_COUNTERS
};

enum myfs_read_mode { MYFS_READ_MODE_ITER, MYFS_READ_MODE_READ };
enum myfs_trace_mode { MYFS_TRACE_OFF, MYFS_TRACE_ONCE, MYFS_TRACE_DMESG };

struct myfs_options {
	bool synthetic;
	u64 read_latency_ns;
	enum myfs_read_mode read_mode;
	bool fault_around;
	enum myfs_trace_mode trace;
	bool counters;
};

struct myfs_counters {
	u64 count[MYFS_NR_COUNTERS];
};

#define MYFS_TRACE_DEPTH 32

/* The first call stack that reached one hook (trace=once or dmesg). */
struct myfs_path {
	unsigned long claimed;		/* bit 0: a caller is recording */
	bool ready;			/* entries valid (release/acquire) */
	unsigned int nr_entries;
	unsigned long entries[MYFS_TRACE_DEPTH];
};

struct myfs_sb_info {
	/*
	 * Options the hooks read locklessly (READ_ONCE); a remount changes
	 * them one field at a time.  synthetic never changes after mount.
	 */
	struct myfs_options opts;
	struct myfs_counters __percpu *counters;
	struct myfs_path paths[MYFS_NR_COUNTERS];
	struct ratelimit_state dump_ratelimit;
	struct kobject kobj;		/* /sys/fs/myfs/<major>:<minor> */
};

static inline struct myfs_sb_info *MYFS_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}

/* stats.c */
extern const char *const myfs_counter_names[MYFS_NR_COUNTERS];
int myfs_sysfs_init(void);
void myfs_sysfs_exit(void);
struct myfs_sb_info *myfs_sbi_alloc(void);
void myfs_sbi_free(struct myfs_sb_info *sbi);
int myfs_sysfs_add(struct myfs_sb_info *sbi, dev_t dev);
void myfs_paths_clear(struct myfs_sb_info *sbi);
void myfs_record_path(struct myfs_sb_info *sbi, enum myfs_counter hook);

static inline void myfs_add(struct myfs_sb_info *sbi, enum myfs_counter c, u64 n)
{
	if (READ_ONCE(sbi->opts.counters))
		this_cpu_add(sbi->counters->count[c], n);
}

/* Records, if tracing, the call stack that reached a hook. */
static inline void myfs_trace(struct myfs_sb_info *sbi, enum myfs_counter hook)
{
	if (unlikely(READ_ONCE(sbi->opts.trace) != MYFS_TRACE_OFF))
		myfs_record_path(sbi, hook);
}

/* Counts one call of a hook and, if tracing, records how it was reached. */
static inline void myfs_hook(struct myfs_sb_info *sbi, enum myfs_counter hook)
{
	myfs_add(sbi, hook, 1);
	myfs_trace(sbi, hook);
}

/* file.c */
extern const struct file_operations myfs_file_operations;
extern const struct inode_operations myfs_file_inode_operations;
extern const struct address_space_operations myfs_aops;

#endif /* MYFS_H */
