/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - every kernel-version difference myfs depends on, in one place.
 *
 * The .c files never test LINUX_VERSION_CODE themselves; they use the
 * MYFS_* names below.  Supported: Linux 6.1 up to 7.3 (tested on Debian's
 * 6.1, 6.12, 7.2 and 7.3 kernels).  Each version below is where the change
 * landed upstream; the tested kernels lie on either side of every one.
 * When a distribution backports an API, prefer a test on the header's own
 * macros over a version number.
 */
#ifndef MYFS_COMPAT_H
#define MYFS_COMPAT_H

#include <linux/version.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/splice.h>
#include <linux/dcache.h>
#include <linux/bio.h>
#include <linux/sysfs.h>

#define MYFS_AT_LEAST(a, b, c) (LINUX_VERSION_CODE >= KERNEL_VERSION(a, b, c))

#if !MYFS_AT_LEAST(6, 1, 0)
#error "myfs needs Linux 6.1 or newer (read_folio, fs_context)"
#endif

/* 6.3 replaced the user_namespace argument of inode operations by mnt_idmap. */
#if MYFS_AT_LEAST(6, 3, 0)
#define MYFS_HAS_MNT_IDMAP 1
typedef struct mnt_idmap myfs_idmap_t;
#define MYFS_NOP_IDMAP (&nop_mnt_idmap)
#else
typedef struct user_namespace myfs_idmap_t;
#define MYFS_NOP_IDMAP (&init_user_ns)
#endif

/* 6.5 removed generic_file_splice_read; filemap_splice_read replaces it. */
#if MYFS_AT_LEAST(6, 5, 0)
#define myfs_splice_read filemap_splice_read
#else
#define myfs_splice_read generic_file_splice_read
#endif

/* 6.12 passes a folio, not a page, to ->write_begin and ->write_end. */
#if MYFS_AT_LEAST(6, 12, 0)
typedef struct folio myfs_write_unit_t;
#else
typedef struct page myfs_write_unit_t;
#endif

/* 6.17 passes the kiocb, not the file, to ->write_begin and ->write_end. */
#if MYFS_AT_LEAST(6, 17, 0)
typedef const struct kiocb myfs_write_ctx_t;
#else
typedef struct file myfs_write_ctx_t;
#endif

/* 6.15: ->mkdir returns the dentry it made (NULL: the one it was given). */
#if MYFS_AT_LEAST(6, 15, 0)
typedef struct dentry *myfs_mkdir_ret_t;
#define MYFS_MKDIR_RETURN(err) ERR_PTR(err)
#else
typedef int myfs_mkdir_ret_t;
#define MYFS_MKDIR_RETURN(err) (err)
#endif

/* 7.3 dropped ->create's `bool excl` (checked: 7.2 has it, 7.3 does not). */
#if MYFS_AT_LEAST(7, 3, 0)
#define MYFS_CREATE_EXCL_PARAM
#else
#define MYFS_CREATE_EXCL_PARAM , bool excl
#endif

/* 6.18 renamed generic_delete_inode to inode_just_drop. */
#if MYFS_AT_LEAST(6, 18, 0)
#define myfs_drop_inode inode_just_drop
#else
#define myfs_drop_inode generic_delete_inode
#endif

/*
 * 6.19 marks the dentries a ramfs-like filesystem pins (DCACHE_PERSISTENT):
 * d_make_persistent() instead of d_instantiate() and an unpaired dget(),
 * unlink/rmdir drop the mark (and warn where it is missing), and umount
 * drops whatever is still marked, so kill_litter_super() is gone and
 * kill_anon_super() or kill_block_super() is all a kill_sb needs.  Before,
 * kill_litter_super() unpinned a nodev tree and block mode unpinned its own.
 * Pins a new dentry with its inode, hashing it if it is not yet.
 */
#if MYFS_AT_LEAST(6, 19, 0)
#define MYFS_HAS_PERSISTENT_DENTRIES 1
static inline void myfs_make_persistent(struct dentry *dentry, struct inode *inode)
{
	d_make_persistent(dentry, inode);
}
#define myfs_kill_nodev_super kill_anon_super
#else
#define MYFS_HAS_PERSISTENT_DENTRIES 0
static inline void myfs_make_persistent(struct dentry *dentry, struct inode *inode)
{
	if (d_unhashed(dentry))
		d_add(dentry, inode);
	else
		d_instantiate(dentry, inode);
	dget(dentry);
}
#define myfs_kill_nodev_super kill_litter_super
#endif

/*
 * The sysfs constification made bin_attribute callbacks and group lists
 * const (6.17; 6.13 to 6.16 carried const variants beside the old ones).
 */
#if MYFS_AT_LEAST(6, 17, 0)
typedef const struct bin_attribute myfs_bin_attr_t;
#else
typedef struct bin_attribute myfs_bin_attr_t;
#endif

/*
 * 6.6/6.7 hid the inode timestamps behind accessors.  Debian's 6.1 has
 * inode_set_ctime_current() backported but not the mtime/atime setters.
 */
static inline void myfs_inode_touch(struct inode *inode)
{
#if MYFS_AT_LEAST(6, 7, 0)
	inode_set_mtime_to_ts(inode, inode_set_ctime_current(inode));
#else
	inode->i_mtime = inode->i_ctime = current_time(inode);
#endif
}

static inline void myfs_inode_init_times(struct inode *inode)
{
#if MYFS_AT_LEAST(6, 7, 0)
	simple_inode_init_ts(inode);
#else
	inode->i_atime = inode->i_mtime = inode->i_ctime = current_time(inode);
#endif
}

/*
 * File-backed pages an mm has mapped, exactly, as seen from the faulting
 * task.  6.2 made the mm's RSS counters per-CPU (a sum is exact); before
 * that, the faulting task cached its own increments (SPLIT_RSS_COUNTING)
 * until the next sync, so both halves are added.
 */
static inline long myfs_mm_file_pages(struct mm_struct *mm)
{
#if MYFS_AT_LEAST(6, 2, 0)
	return percpu_counter_sum(&mm->rss_stat[MM_FILEPAGES]);
#else
	long pages = atomic_long_read(&mm->rss_stat.count[MM_FILEPAGES]);
#ifdef SPLIT_RSS_COUNTING
	if (current->mm == mm)
		pages += current->rss_stat.count[MM_FILEPAGES];
#endif
	return pages;
#endif
}

/*
 * 6.8 turned a dentry's children from the list d_subdirs (linked by
 * d_child) into the hlist d_children (linked by d_sib).  Call with the
 * parent's d_lock held.
 */
#if MYFS_AT_LEAST(6, 8, 0)
#define myfs_for_each_child(child, parent) \
	hlist_for_each_entry(child, &(parent)->d_children, d_sib)
#else
#define myfs_for_each_child(child, parent) \
	list_for_each_entry(child, &(parent)->d_subdirs, d_child)
#endif

/*
 * Adds a whole folio to a read bio.  6.1 has bio_add_folio but does not
 * export it; 6.12 does.  bio_add_page takes the folio's pages as one
 * bvec everywhere (myfs's folios are single pages anyway).
 */
static inline bool myfs_bio_add_folio(struct bio *bio, struct folio *folio)
{
#if MYFS_AT_LEAST(6, 12, 0)
	return bio_add_folio(bio, folio, folio_size(folio), 0);
#else
	return bio_add_page(bio, &folio->page, folio_size(folio), 0) == folio_size(folio);
#endif
}

/*
 * -o nowait: a file that says it can be read without blocking.  FMODE_NOWAIT
 * lets io_uring issue a read with IOCB_NOWAIT and complete it inline when the
 * pages are cached (6.1's io_uring assumed it of every regular file; 6.12
 * and 7.x punt reads of files without it to an io-wq worker).  Async buffered
 * reads (a cache miss waits on a page callback, not in a worker) are a file
 * mode bit up to 6.10 and a file_operations flag since 6.11: whichever the
 * headers define.
 */
#ifdef FMODE_BUF_RASYNC
#define MYFS_FMODE_NOWAIT (FMODE_NOWAIT | FMODE_BUF_RASYNC)
#else
#define MYFS_FMODE_NOWAIT FMODE_NOWAIT
#endif

/*
 * 6.14: uncached buffered reads (RWF_DONTCACHE: pages a read brings in leave
 * the cache when it completes) where the filesystem says FOP_DONTCACHE.
 * myfs says it in every file table.
 */
#ifdef FOP_DONTCACHE
#define MYFS_FOP_DONTCACHE FOP_DONTCACHE
#else
#define MYFS_FOP_DONTCACHE 0
#endif

/* The file tables' fop_flags (6.11 moved such flags from f_mode there). */
#ifdef FOP_BUFFER_RASYNC
#define MYFS_FOP_FLAGS .fop_flags = MYFS_FOP_DONTCACHE,
#define MYFS_FOP_FLAGS_NOWAIT .fop_flags = MYFS_FOP_DONTCACHE | FOP_BUFFER_RASYNC,
#else
#define MYFS_FOP_FLAGS
#define MYFS_FOP_FLAGS_NOWAIT
#endif

/*
 * iomap_dio_rw(iocb, iter, ops, dops, dio_flags, private, done_before) and
 * iomap_ops.iomap_begin(inode, pos, length, flags, iomap, srcmap) are the
 * same on 6.1 and 6.12 (checked against both trees' linux/iomap.h), so
 * O_DIRECT needs nothing here.
 */

#endif /* MYFS_COMPAT_H */
