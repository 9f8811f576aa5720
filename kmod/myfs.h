/* SPDX-License-Identifier: GPL-2.0 */
/*
 * myfs.h - shared declarations of myfs, the instrumented page-cache
 * filesystem of readpath: mount options, per-mount state, hook counters,
 * recorded call paths, and the on-disk layout of block mode.
 */
#ifndef MYFS_H
#define MYFS_H

#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/kobject.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/ratelimit.h>
#include <linux/stacktrace.h>

#define MYFS_NAME "myfs"
#define MYFS_MAGIC 0x6d796673		/* "myfs" */

/* Upper bound for read_latency_ns: one second per read_folio. */
#define MYFS_MAX_READ_LATENCY_NS 1000000000ULL

/*
 * Hooks, in the order `stats` prints them (docs/contracts.md).  Each has a
 * counter; those counted by myfs_hook() (a wrapper, a bio's submission or
 * completion) also have recorded call paths.
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
	MYFS_BIO_SUBMIT,	/* bios myfs submitted for reads (block mode) */
	MYFS_BIO_PAGES,		/* pages in them */
	MYFS_BIO_COMPLETE,	/* bios whose end_io ran */
	MYFS_BIO_ERROR,		/* of those, failed ones */
	MYFS_DIRECT_READ,	/* reads with IOCB_DIRECT (image files) */
	MYFS_READAHEAD_FOLIOS,	/* folios in readahead calls (pages: readahead_pages) */
	MYFS_READ_FOLIO_PAGES,	/* pages of the folios read_folio calls read */
	MYFS_NR_COUNTERS
};

enum myfs_read_mode { MYFS_READ_MODE_ITER, MYFS_READ_MODE_READ };
enum myfs_trace_mode { MYFS_TRACE_OFF, MYFS_TRACE_ONCE, MYFS_TRACE_DMESG };

struct myfs_options {
	bool synthetic;
	u64 read_latency_ns;
	bool read_latency_spin;		/* read_latency_wait=spin */
	enum myfs_read_mode read_mode;
	bool fault_around;
	enum myfs_trace_mode trace;
	bool counters;
	bool nowait;			/* files opened say FMODE_NOWAIT (compat.h) */
	bool large_folios;		/* files created take folios of any order */
};

struct myfs_counters {
	u64 count[MYFS_NR_COUNTERS];
};

#define MYFS_TRACE_DEPTH 32
#define MYFS_STACKS_PER_HOOK 8

/* One distinct call stack that reached a hook, and how many calls came by it. */
struct myfs_stack {
	u32 hash;			/* jhash of the frames, to compare fast */
	unsigned int nr_entries;
	atomic64_t calls;
	unsigned long entries[MYFS_TRACE_DEPTH];
};

/*
 * Every distinct stack that reached one hook (trace=once or dmesg), in the
 * order first seen.  stacks[0 .. nr) never change until a clear; adding one
 * takes the lock (irqsave: bio completions record from interrupts).
 */
struct myfs_hook_paths {
	raw_spinlock_t lock;
	unsigned int nr;		/* published with release, read with acquire */
	atomic64_t unrecorded;		/* calls by stacks past the first 8 */
	struct myfs_stack stacks[MYFS_STACKS_PER_HOOK];
};

/* A formatted `paths` text kept for one open file's chunked reads. */
struct myfs_paths_snapshot {
	struct mutex lock;
	const struct file *reader;
	char *text;
	size_t len;
};

struct myfs_device_ops;

struct myfs_sb_info {
	/*
	 * Options the hooks read locklessly (READ_ONCE); a remount changes
	 * them one field at a time.  synthetic never changes after mount.
	 */
	struct myfs_options opts;
	struct myfs_counters __percpu *counters;
	struct myfs_hook_paths *paths;		/* [MYFS_NR_COUNTERS] */
	struct myfs_paths_snapshot snapshot;
	struct ratelimit_state dump_ratelimit;
	struct kobject kobj;		/* /sys/fs/myfs/<major>:<minor> */
	/*
	 * Block mode numbers its own inodes: the root is 1, the image's files
	 * keep their table's numbers, and files created after the mount count
	 * up from the largest of those, so no two files of the mount share an
	 * st_ino (and so a content function).  Page-cache mode uses
	 * get_next_ino().
	 */
	bool own_inos;
	atomic_long_t last_ino;
	/* What the device adds to file.c's operations; NULL in page-cache mode. */
	const struct myfs_device_ops *device;
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
int myfs_sysfs_add(struct myfs_sb_info *sbi, dev_t dev);
void myfs_sysfs_del(struct myfs_sb_info *sbi);
void myfs_sbi_put(struct myfs_sb_info *sbi);
void myfs_paths_clear(struct myfs_sb_info *sbi);
void myfs_record_path(struct myfs_sb_info *sbi, enum myfs_counter hook);

static inline void myfs_add(struct myfs_sb_info *sbi, enum myfs_counter c, u64 n)
{
	if (READ_ONCE(sbi->opts.counters))
		this_cpu_add(sbi->counters->count[c], n);
}

/*
 * Records, if tracing and counting, the call stack that reached a hook.  Unwinding is
 * by far the costliest part of myfs's instrumentation (on 6.12 about 4,400 of a warm
 * 4 KiB read(2)'s 6,300 instructions under trace=once), so counters=off stops it too:
 * readpath's timed passes run with counters=off and carry none of it.
 */
static inline void myfs_trace(struct myfs_sb_info *sbi, enum myfs_counter hook)
{
	if (unlikely(READ_ONCE(sbi->opts.trace) != MYFS_TRACE_OFF) && READ_ONCE(sbi->opts.counters))
		myfs_record_path(sbi, hook);
}

/* Counts one call of a hook and, if tracing, records how it was reached. */
static inline void myfs_hook(struct myfs_sb_info *sbi, enum myfs_counter hook)
{
	myfs_add(sbi, hook, 1);
	myfs_trace(sbi, hook);
}

/* file.c */
void myfs_model_latency(struct myfs_sb_info *sbi);
extern const struct file_operations myfs_file_operations;
extern const struct inode_operations myfs_file_inode_operations;
extern const struct address_space_operations myfs_aops;

/*
 * What a device adds to file.c's operations, reached through the superblock
 * (sbi->device: block.c's myfs_block_device in block mode), so that block.c
 * builds on file.c and file.c never calls into block.c.
 */
struct myfs_device_ops {
	/* A read with IOCB_DIRECT: an image file's goes to the device. */
	ssize_t (*direct_read)(struct kiocb *iocb, struct iov_iter *to);
	/* A file being opened: the device's readahead window, O_DIRECT where it can. */
	void (*open)(struct inode *inode, struct file *file);
};

/*
 * Image files (block mode) have block.c's address_space operations; every
 * other regular file of myfs has file.c's.
 */
static inline bool myfs_is_image(struct inode *inode)
{
	return S_ISREG(inode->i_mode) && inode->i_mapping->a_ops != &myfs_aops;
}

/* ---- block mode (block.c) ---- */

/*
 * On-disk layout, version 1 (docs/contracts.md, "On-disk layout"): block 0
 * the superblock, blocks 1 .. table_blocks the file table (64 entries of
 * 64 bytes per block), then each file's data in contiguous blocks.  All
 * integers little-endian.
 */
#define MYFS_BLOCK_SHIFT 12
#define MYFS_BLOCK_SIZE (1U << MYFS_BLOCK_SHIFT)
#define MYFS_DISK_MAGIC "myfsblk1"
#define MYFS_DISK_VERSION 1
#define MYFS_NAME_LEN 40
#define MYFS_ENTRIES_PER_BLOCK (MYFS_BLOCK_SIZE / sizeof(struct myfs_disk_entry))
/* More files than this are refused (each is an inode and a dentry at mount). */
#define MYFS_MAX_FILES (1U << 20)

struct myfs_disk_super {
	char magic[8];
	__le32 version;
	__le32 block_size;
	__le64 total_blocks;
	__le32 nr_files;
	__le32 table_blocks;
} __packed;

struct myfs_disk_entry {
	char name[MYFS_NAME_LEN];
	__le64 size;
	__le64 start_block;
	__le32 ino;
	__le32 reserved;
} __packed;

/* Image files: read-only, read from the device through myfs's own bios. */
extern const struct address_space_operations myfs_image_aops;
extern const struct myfs_device_ops myfs_block_device;

int myfs_image_load(struct super_block *sb, struct fs_context *fc);
void myfs_follow_device_readahead(struct super_block *sb);

#endif /* MYFS_H */
