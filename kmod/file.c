// SPDX-License-Identifier: GPL-2.0
/*
 * file.c - myfs regular files: every read-path hook counted, then handed to
 * the kernel's generic helper (generic_file_read_iter, filemap_fault,
 * filemap_map_pages, ...), plus the synthetic content of -o synthetic.
 * Image files of block mode share these file operations; their address
 * space operations and O_DIRECT are in block.c.
 */
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/highmem.h>
#include <linux/uio.h>
#include <linux/falloc.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/sched.h>

#include "compat.h"
#include "myfs.h"

static struct myfs_sb_info *inode_sbi(struct inode *inode)
{
	return MYFS_SB(inode->i_sb);
}

static struct myfs_sb_info *file_sbi(struct file *file)
{
	return inode_sbi(file_inode(file));
}

/* Files whose content is not the user's to change: synthetic and image files. */
static bool myfs_read_only(struct inode *inode)
{
	return inode_sbi(inode)->opts.synthetic || myfs_is_image(inode);
}

/*
 * Synthetic content (docs/contracts.md): a little-endian array of 64-bit
 * words, word k of inode ino being mix64(ino * golden + k) (SplitMix64's
 * finalizer).  readpath's readers compute the same function to verify.
 */
static inline u64 myfs_mix64(u64 z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static inline u64 myfs_word(u64 ino, u64 k)
{
	return myfs_mix64(ino * 0x9E3779B97F4A7C15ULL + k);
}

/* Fills a folio with synthetic content up to isize and zeros past it. */
static void myfs_fill_synthetic(struct folio *folio, u64 ino, loff_t isize)
{
	loff_t pos = folio_pos(folio);
	size_t i, nr = folio_nr_pages(folio);

	for (i = 0; i < nr; i++, pos += PAGE_SIZE) {
		__le64 *words = kmap_local_folio(folio, i * PAGE_SIZE);
		size_t valid = pos >= isize ? 0 : min_t(loff_t, PAGE_SIZE, isize - pos);
		size_t w, nr_words = DIV_ROUND_UP(valid, sizeof(u64));
		u64 first = pos / sizeof(u64);

		for (w = 0; w < nr_words; w++)
			words[w] = cpu_to_le64(myfs_word(ino, first + w));
		memset((char *)words + valid, 0, PAGE_SIZE - valid);
		kunmap_local(words);
	}
	flush_dcache_folio(folio);
}

/*
 * Models a device's latency for one read request (-o read_latency_ns).  By default the
 * reader sleeps, as it waits for a real device, and its CPU may idle meanwhile; an idle
 * CPU can come back slower (a lower clock, a deep C-state), which then shows in the
 * requests after this one too.  read_latency_wait=spin keeps the CPU busy instead, like
 * polled I/O, so that only the requests that wait carry the latency: the clean known
 * effect on a latency tail.
 */
void myfs_model_latency(struct myfs_sb_info *sbi)
{
	u64 ns = READ_ONCE(sbi->opts.read_latency_ns);
	ktime_t end;

	if (!ns)
		return;
	if (ns < 10 * NSEC_PER_USEC) {
		ndelay(ns);	/* too short to sleep for: spin, like polled I/O */
		return;
	}
	end = ktime_add_ns(ktime_get(), ns);
	if (READ_ONCE(sbi->opts.read_latency_spin)) {
		while (ktime_before(ktime_get(), end)) {
			cpu_relax();
			cond_resched();	/* a runnable task may have the CPU; it stays busy */
		}
		return;
	}
	do {
		ktime_t expires = end;

		__set_current_state(TASK_UNINTERRUPTIBLE);
		schedule_hrtimeout_range(&expires, 0, HRTIMER_MODE_ABS);
	} while (ktime_before(ktime_get(), end));
}

/* ---- address_space operations ---- */

static int myfs_read_folio(struct file *file, struct folio *folio)
{
	struct inode *inode = folio->mapping->host;
	struct myfs_sb_info *sbi = inode_sbi(inode);

	myfs_hook(sbi, MYFS_READ_FOLIO);
	myfs_add(sbi, MYFS_READ_FOLIO_PAGES, folio_nr_pages(folio));
	if (!sbi->opts.synthetic)
		return ram_aops.read_folio(file, folio);	/* a hole: zeros */
	myfs_model_latency(sbi);
	myfs_fill_synthetic(folio, inode->i_ino, i_size_read(inode));
	folio_mark_uptodate(folio);
	folio_unlock(folio);
	return 0;
}

/* One readahead request is one modelled device I/O, however many pages. */
static void myfs_readahead(struct readahead_control *rac)
{
	struct inode *inode = rac->mapping->host;
	struct myfs_sb_info *sbi = inode_sbi(inode);
	loff_t isize = i_size_read(inode);
	struct folio *folio;
	u64 folios = 0;

	myfs_hook(sbi, MYFS_READAHEAD);
	myfs_add(sbi, MYFS_READAHEAD_PAGES, readahead_count(rac));
	if (sbi->opts.synthetic)
		myfs_model_latency(sbi);
	while ((folio = readahead_folio(rac))) {
		folios++;
		if (sbi->opts.synthetic)
			myfs_fill_synthetic(folio, inode->i_ino, isize);
		else
			folio_zero_range(folio, 0, folio_size(folio));
		folio_mark_uptodate(folio);
		folio_unlock(folio);
	}
	myfs_add(sbi, MYFS_READAHEAD_FOLIOS, folios);
}

/* ramfs's write_end is not exported on its own; its aops table is. */
static int myfs_write_end(myfs_write_ctx_t *ctx, struct address_space *mapping,
			  loff_t pos, unsigned int len, unsigned int copied,
			  myfs_write_unit_t *unit, void *fsdata)
{
	return ram_aops.write_end(ctx, mapping, pos, len, copied, unit, fsdata);
}

/* ---- vm operations ---- */

/*
 * Counts every call, like the other hooks.  A call that returns
 * VM_FAULT_RETRY (it dropped mmap_lock to start or wait for a read) is
 * repeated by the kernel, so a page read in by a fault counts a major call
 * and then a minor one.
 */
static vm_fault_t myfs_fault(struct vm_fault *vmf)
{
	struct myfs_sb_info *sbi = file_sbi(vmf->vma->vm_file);
	vm_fault_t ret;

	myfs_hook(sbi, MYFS_FAULT);
	ret = filemap_fault(vmf);
	if (ret & VM_FAULT_ERROR)
		myfs_add(sbi, MYFS_FAULT_ERROR, 1);
	else if (ret & VM_FAULT_MAJOR)
		myfs_add(sbi, MYFS_FAULT_MAJOR, 1);
	else
		myfs_add(sbi, MYFS_FAULT_MINOR, 1);
	return ret;
}

/*
 * Pages mapped are read off the mm's file RSS around the call: exact for
 * one thread faulting, approximate when other threads of the same process
 * fault or unmap at the same moment.
 */
static vm_fault_t myfs_map_pages(struct vm_fault *vmf, pgoff_t start_pgoff,
				 pgoff_t end_pgoff)
{
	struct myfs_sb_info *sbi = file_sbi(vmf->vma->vm_file);
	struct mm_struct *mm = vmf->vma->vm_mm;
	bool counting = READ_ONCE(sbi->opts.counters);
	long before = 0, mapped;
	vm_fault_t ret;

	myfs_hook(sbi, MYFS_MAP_PAGES);
	if (counting)
		before = myfs_mm_file_pages(mm);
	ret = filemap_map_pages(vmf, start_pgoff, end_pgoff);
	if (counting) {
		mapped = myfs_mm_file_pages(mm) - before;
		if (mapped > 0)
			myfs_add(sbi, MYFS_MAP_PAGES_PAGES, mapped);
	}
	return ret;
}

static vm_fault_t myfs_page_mkwrite(struct vm_fault *vmf)
{
	struct myfs_sb_info *sbi = file_sbi(vmf->vma->vm_file);

	myfs_hook(sbi, MYFS_PAGE_MKWRITE);
	if (myfs_read_only(file_inode(vmf->vma->vm_file)))
		return VM_FAULT_SIGBUS;	/* generated or image content is read-only */
	return filemap_page_mkwrite(vmf);
}

static const struct vm_operations_struct myfs_vm_ops;
static const struct vm_operations_struct myfs_vm_ops_no_fault_around;

/* ---- file operations ---- */

/* Buffered reads through the page cache; O_DIRECT ones as the device says. */
static ssize_t myfs_file_read(struct kiocb *iocb, struct iov_iter *to)
{
	if (iocb->ki_flags & IOCB_DIRECT) {
		const struct myfs_device_ops *device = file_sbi(iocb->ki_filp)->device;

		if (device)
			return device->direct_read(iocb, to);
	}
	return generic_file_read_iter(iocb, to);
}

static ssize_t myfs_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	myfs_hook(file_sbi(iocb->ki_filp), MYFS_READ_ITER);
	return myfs_file_read(iocb, to);
}

/*
 * -o read=read: a ->read, so that vfs_read() takes the older branch the
 * seed describes.  It reads through the page cache like ->read_iter but
 * is not counted as one.
 */
static ssize_t myfs_read(struct file *file, char __user *buf, size_t len,
			 loff_t *ppos)
{
	struct kiocb kiocb;
	struct iov_iter iter;
	ssize_t ret;

	myfs_hook(file_sbi(file), MYFS_READ);
	init_sync_kiocb(&kiocb, file);
	kiocb.ki_pos = *ppos;
	iov_iter_ubuf(&iter, ITER_DEST, buf, len);
	ret = myfs_file_read(&kiocb, &iter);
	if (ret > 0)
		*ppos = kiocb.ki_pos;
	return ret;
}

static ssize_t myfs_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct myfs_sb_info *sbi = file_sbi(iocb->ki_filp);

	myfs_hook(sbi, MYFS_WRITE_ITER);
	if (myfs_read_only(file_inode(iocb->ki_filp)))
		return -EPERM;	/* content is a function of (inode, offset) */
	return generic_file_write_iter(iocb, from);
}

static int myfs_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct myfs_sb_info *sbi = file_sbi(file);
	int err;

	myfs_hook(sbi, MYFS_MMAP);
	if (myfs_read_only(file_inode(file)) && (vma->vm_flags & VM_SHARED) &&
	    (vma->vm_flags & VM_WRITE))
		return -EPERM;
	err = generic_file_mmap(file, vma);
	if (err)
		return err;
	vma->vm_ops = READ_ONCE(sbi->opts.fault_around) ?
		&myfs_vm_ops : &myfs_vm_ops_no_fault_around;
	return 0;
}

static int myfs_fsync(struct file *file, loff_t start, loff_t end, int datasync)
{
	myfs_hook(file_sbi(file), MYFS_FSYNC);
	return noop_fsync(file, start, end, datasync);
}

/* [read=read][nowait=on]; [0][0] is myfs_file_operations, every inode's i_fop. */
static const struct file_operations *const myfs_fops[2][2];

static int myfs_open(struct inode *inode, struct file *file)
{
	struct myfs_sb_info *sbi = inode_sbi(inode);
	bool by_read = READ_ONCE(sbi->opts.read_mode) == MYFS_READ_MODE_READ;
	bool nowait = READ_ONCE(sbi->opts.nowait);

	if (by_read || nowait)
		replace_fops(file, myfs_fops[by_read][nowait]);
	/* -o nowait: io_uring may read it with IOCB_NOWAIT, inline when cached. */
	if (nowait)
		file->f_mode |= MYFS_FMODE_NOWAIT;
	/* Block mode: O_DIRECT for image files, the device's readahead window. */
	if (sbi->device)
		sbi->device->open(inode, file);
	return generic_file_open(inode, file);
}

/*
 * A synthetic file's page at the old end holds zeros past it; once the file
 * grows, content continues there, so that page must be generated again.
 * Called with the inode and the mapping's invalidate_lock held.
 */
static void myfs_size_grown(struct inode *inode, loff_t oldsize)
{
	if (!inode_sbi(inode)->opts.synthetic || i_size_read(inode) <= oldsize ||
	    !offset_in_page(oldsize))
		return;
	/*
	 * A large folio holding the old end may not split, and truncating
	 * inside it only zeroes: drop the whole cache (it is regenerated).
	 */
	if (mapping_large_folio_support(inode->i_mapping))
		truncate_pagecache(inode, 0);
	else
		truncate_pagecache(inode, round_down(oldsize, PAGE_SIZE));
}

/* Sets the size, like a device's allocation would; data stays as it is. */
static long myfs_fallocate(struct file *file, int mode, loff_t offset, loff_t len)
{
	struct inode *inode = file_inode(file);
	loff_t end = offset + len;	/* vfs_fallocate checked for overflow */
	loff_t oldsize;
	int err = 0;

	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	if (myfs_is_image(inode))
		return -EPERM;	/* an image file's size is the image's */
	inode_lock(inode);
	filemap_invalidate_lock(inode->i_mapping);
	oldsize = i_size_read(inode);
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > oldsize) {
		err = inode_newsize_ok(inode, end);
		if (!err) {
			i_size_write(inode, end);
			myfs_size_grown(inode, oldsize);
			myfs_inode_touch(inode);
		}
	}
	filemap_invalidate_unlock(inode->i_mapping);
	inode_unlock(inode);
	return err;
}

/* ---- inode operations ---- */

static int myfs_setattr(myfs_idmap_t *idmap, struct dentry *dentry,
			struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	loff_t oldsize;
	int err;

	if (!(attr->ia_valid & ATTR_SIZE))
		return simple_setattr(idmap, dentry, attr);
	if (myfs_is_image(inode))
		return -EPERM;	/* truncate: the image is read-only */
	filemap_invalidate_lock(inode->i_mapping);
	oldsize = i_size_read(inode);
	err = simple_setattr(idmap, dentry, attr);
	if (!err)
		myfs_size_grown(inode, oldsize);
	filemap_invalidate_unlock(inode->i_mapping);
	return err;
}

static const struct vm_operations_struct myfs_vm_ops = {
	.fault		= myfs_fault,
	.map_pages	= myfs_map_pages,
	.page_mkwrite	= myfs_page_mkwrite,
};

/* fault_around=off: without ->map_pages every page takes its own fault. */
static const struct vm_operations_struct myfs_vm_ops_no_fault_around = {
	.fault		= myfs_fault,
	.page_mkwrite	= myfs_page_mkwrite,
};

const struct address_space_operations myfs_aops = {
	.read_folio	= myfs_read_folio,
	.readahead	= myfs_readahead,
	.write_begin	= simple_write_begin,
	.write_end	= myfs_write_end,
	.dirty_folio	= noop_dirty_folio,
};

/*
 * The file tables.  -o read=read takes one with ->read, which takes read(2)
 * and pread(2) (readv and io_uring keep ->read_iter); -o nowait one with
 * async buffered reads where the kernel flags them in file_operations.  All
 * offer uncached reads (RWF_DONTCACHE) where the kernel has them.
 */
#define MYFS_FILE_OPERATIONS					\
	.open		= myfs_open,				\
	.read_iter	= myfs_read_iter,			\
	.write_iter	= myfs_write_iter,			\
	.mmap		= myfs_mmap,				\
	.fsync		= myfs_fsync,				\
	.fallocate	= myfs_fallocate,			\
	.splice_read	= myfs_splice_read,			\
	.splice_write	= iter_file_splice_write,		\
	.llseek		= generic_file_llseek

const struct file_operations myfs_file_operations = {
	MYFS_FILE_OPERATIONS,
	MYFS_FOP_FLAGS
};

static const struct file_operations myfs_file_read_operations = {
	MYFS_FILE_OPERATIONS,
	.read		= myfs_read,
	MYFS_FOP_FLAGS
};

static const struct file_operations myfs_file_nowait_operations = {
	MYFS_FILE_OPERATIONS,
	MYFS_FOP_FLAGS_NOWAIT
};

static const struct file_operations myfs_file_read_nowait_operations = {
	MYFS_FILE_OPERATIONS,
	.read		= myfs_read,
	MYFS_FOP_FLAGS_NOWAIT
};

static const struct file_operations *const myfs_fops[2][2] = {
	{ &myfs_file_operations, &myfs_file_nowait_operations },
	{ &myfs_file_read_operations, &myfs_file_read_nowait_operations },
};

const struct inode_operations myfs_file_inode_operations = {
	.setattr	= myfs_setattr,
	.getattr	= simple_getattr,
};
