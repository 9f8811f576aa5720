// SPDX-License-Identifier: GPL-2.0
/*
 * block.c - myfs block mode: `mount -t myfs /dev/X MNT` reads an image that
 * tools/mkfs.myfs wrote (docs/contracts.md, "myfs over a block device").
 *
 * The image is validated whole before anything in it is trusted; a bad one
 * refuses to mount with EINVAL and one log line `myfs: /dev/X: <what>`.
 * Its files are read-only and their pages evictable: read_folio and
 * readahead build and submit myfs's own bios (counted, and their submission
 * and completion stacks recorded, which mpage would hide), and O_DIRECT
 * reads go to the device through iomap.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/buffer_head.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/backing-dev.h>
#include <linux/iomap.h>
#include <linux/pagemap.h>
#include <linux/highmem.h>
#include <linux/sort.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uio.h>

#include "compat.h"
#include "myfs.h"

/* A file table entry, checked. */
struct myfs_entry {
	char name[MYFS_NAME_LEN];
	u64 size;
	u64 start;		/* first block */
	u64 nblocks;		/* ceil(size / 4096) */
	u32 ino;
	u32 index;		/* position in the table */
};

static struct myfs_sb_info *inode_sbi(struct inode *inode)
{
	return MYFS_SB(inode->i_sb);
}

/* An image file's first block is kept in i_private (a mount is 64-bit only). */
static u64 myfs_start(struct inode *inode)
{
	return (uintptr_t)inode->i_private;
}

static u64 myfs_blocks(struct inode *inode)
{
	return DIV_ROUND_UP_ULL(i_size_read(inode), MYFS_BLOCK_SIZE);
}

/* One kernel log line `myfs: /dev/X: <what is wrong>`, and EINVAL. */
#define myfs_bad(fc, fmt, ...) invalfc(fc, "%s: " fmt, (fc)->source, ##__VA_ARGS__)

/* ---- the image: superblock and file table ---- */

static int myfs_entry_check(struct fs_context *fc, const struct myfs_disk_entry *de,
			    u32 index, u32 table_blocks, u64 total, struct myfs_entry *e)
{
	if (!memchr(de->name, 0, MYFS_NAME_LEN))
		return myfs_bad(fc, "file %u: name is not NUL-terminated", index);
	memcpy(e->name, de->name, MYFS_NAME_LEN);
	e->size = le64_to_cpu(de->size);
	e->start = le64_to_cpu(de->start_block);
	e->ino = le32_to_cpu(de->ino);
	e->index = index;
	e->nblocks = (e->size >> MYFS_BLOCK_SHIFT) + !!(e->size & (MYFS_BLOCK_SIZE - 1));
	if (!e->name[0])
		return myfs_bad(fc, "file %u: name is empty", index);
	if (strchr(e->name, '/'))
		return myfs_bad(fc, "file %u (%s): name contains '/'", index, e->name);
	if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
		return myfs_bad(fc, "file %u (%s): name is . or ..", index, e->name);
	if (e->ino < 2)
		return myfs_bad(fc, "file %u (%s): inode number %u < 2 (1 is the root)",
				index, e->name, e->ino);
	if (!e->nblocks)
		return 0;
	if (e->start >= total || e->nblocks > total - e->start)
		return myfs_bad(fc, "file %u (%s): its %llu blocks from block %llu pass the end of the image (%llu blocks)",
				index, e->name, e->nblocks, e->start, total);
	if (e->start <= table_blocks)
		return myfs_bad(fc, "file %u (%s): blocks %llu-%llu overlap the file table (blocks 0-%u with the superblock)",
				index, e->name, e->start, e->start + e->nblocks - 1, table_blocks);
	return 0;
}

static int myfs_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct myfs_entry *)a)->name, ((const struct myfs_entry *)b)->name);
}

static int myfs_cmp_ino(const void *a, const void *b)
{
	u32 x = ((const struct myfs_entry *)a)->ino, y = ((const struct myfs_entry *)b)->ino;

	return x < y ? -1 : x > y;
}

static int myfs_cmp_start(const void *a, const void *b)
{
	u64 x = ((const struct myfs_entry *)a)->start, y = ((const struct myfs_entry *)b)->start;

	return x < y ? -1 : x > y;
}

/* Names and inode numbers unique, no two files' blocks shared. */
static int myfs_entries_check(struct fs_context *fc, struct myfs_entry *e, u32 nr)
{
	const struct myfs_entry *prev = NULL;
	u32 i;

	sort(e, nr, sizeof(*e), myfs_cmp_name, NULL);
	for (i = 1; i < nr; i++)
		if (!strcmp(e[i - 1].name, e[i].name))
			return myfs_bad(fc, "file name %s repeats (files %u and %u)", e[i].name,
					min(e[i - 1].index, e[i].index), max(e[i - 1].index, e[i].index));
	sort(e, nr, sizeof(*e), myfs_cmp_ino, NULL);
	for (i = 1; i < nr; i++)
		if (e[i - 1].ino == e[i].ino)
			return myfs_bad(fc, "inode number %u repeats (files %s and %s)", e[i].ino,
					e[i - 1].name, e[i].name);
	sort(e, nr, sizeof(*e), myfs_cmp_start, NULL);
	for (i = 0; i < nr; i++) {
		if (!e[i].nblocks)
			continue;
		if (prev && prev->start + prev->nblocks > e[i].start)
			return myfs_bad(fc, "files %s (blocks %llu-%llu) and %s (blocks %llu-%llu) overlap",
					prev->name, prev->start, prev->start + prev->nblocks - 1,
					e[i].name, e[i].start, e[i].start + e[i].nblocks - 1);
		prev = &e[i];
	}
	return 0;
}

/* Makes an image file's inode and its dentry in the root, pinned like ramfs's. */
static int myfs_image_add(struct super_block *sb, const struct myfs_entry *e)
{
	struct inode *inode = new_inode(sb);
	struct dentry *dentry;

	if (!inode)
		return -ENOMEM;
	inode->i_ino = e->ino;
	inode->i_mode = S_IFREG | 0444;
	inode->i_op = &myfs_file_inode_operations;
	inode->i_fop = &myfs_file_operations;
	inode->i_mapping->a_ops = &myfs_image_aops;
	mapping_set_gfp_mask(inode->i_mapping, GFP_HIGHUSER);
	inode->i_private = (void *)(uintptr_t)e->start;
	i_size_write(inode, e->size);
	inode->i_blocks = e->nblocks << (MYFS_BLOCK_SHIFT - 9);
	myfs_inode_init_times(inode);
	dentry = d_alloc_name(sb->s_root, e->name);
	if (!dentry) {
		iput(inode);
		return -ENOMEM;
	}
	myfs_make_persistent(dentry, inode);	/* the pin umount drops */
	dput(dentry);
	return 0;
}

/*
 * Reads and checks the superblock and the whole file table, then makes the
 * files.  Nothing is read past the device's end, and no field is used
 * before it is checked.
 */
int myfs_image_load(struct super_block *sb, struct fs_context *fc)
{
	u64 dev_bytes = bdev_nr_bytes(sb->s_bdev);
	u64 dev_blocks = dev_bytes >> MYFS_BLOCK_SHIFT;
	struct buffer_head *bh = NULL;
	struct myfs_entry *entries = NULL;
	struct myfs_disk_super ds;
	u32 nr_files, table_blocks, i;
	u64 total;
	int err = 0;

	BUILD_BUG_ON(sizeof(struct myfs_disk_entry) != 64);
	BUILD_BUG_ON(PAGE_SIZE != MYFS_BLOCK_SIZE);
	if (!dev_blocks)
		return myfs_bad(fc, "the device (%llu bytes) is smaller than one block of 4096", dev_bytes);
	bh = sb_bread(sb, 0);
	if (!bh) {
		errorfc(fc, "%s: cannot read the superblock (I/O error)", fc->source);
		return -EIO;
	}
	memcpy(&ds, bh->b_data, sizeof(ds));
	brelse(bh);
	bh = NULL;

	if (memcmp(ds.magic, MYFS_DISK_MAGIC, sizeof(ds.magic)))
		return myfs_bad(fc, "bad magic %*phN, not \"%s\" (not a myfs image; tools/mkfs.myfs writes one)",
				(int)sizeof(ds.magic), ds.magic, MYFS_DISK_MAGIC);
	if (le32_to_cpu(ds.version) != MYFS_DISK_VERSION)
		return myfs_bad(fc, "unsupported version %u (this myfs reads version %u)",
				le32_to_cpu(ds.version), MYFS_DISK_VERSION);
	if (le32_to_cpu(ds.block_size) != MYFS_BLOCK_SIZE)
		return myfs_bad(fc, "block size %u, not 4096", le32_to_cpu(ds.block_size));
	total = le64_to_cpu(ds.total_blocks);
	nr_files = le32_to_cpu(ds.nr_files);
	table_blocks = le32_to_cpu(ds.table_blocks);
	if (total > dev_blocks)
		return myfs_bad(fc, "total blocks %llu larger than the device (%llu blocks)",
				total, dev_blocks);
	if (!total || table_blocks > total - 1)
		return myfs_bad(fc, "the file table (blocks 1-%u) does not fit in the image (%llu blocks)",
				table_blocks, total);
	if (nr_files > (u64)table_blocks * MYFS_ENTRIES_PER_BLOCK)
		return myfs_bad(fc, "the file table (%u blocks) cannot hold %u files", table_blocks,
				nr_files);
	if (nr_files > MYFS_MAX_FILES)
		return myfs_bad(fc, "%u files, more than myfs mounts (%u)", nr_files, MYFS_MAX_FILES);
	if (!nr_files)
		return 0;

	entries = kvmalloc_array(nr_files, sizeof(*entries), GFP_KERNEL);
	if (!entries)
		return -ENOMEM;
	for (i = 0; i < nr_files && !err; i++) {
		u32 slot = i % MYFS_ENTRIES_PER_BLOCK;

		if (!slot) {
			brelse(bh);
			bh = sb_bread(sb, 1 + i / MYFS_ENTRIES_PER_BLOCK);
			if (!bh) {
				errorfc(fc, "%s: cannot read file table block %u (I/O error)", fc->source,
					1 + i / (u32)MYFS_ENTRIES_PER_BLOCK);
				err = -EIO;
				break;
			}
		}
		err = myfs_entry_check(fc, (const struct myfs_disk_entry *)bh->b_data + slot, i,
				       table_blocks, total, &entries[i]);
	}
	brelse(bh);
	if (!err)
		err = myfs_entries_check(fc, entries, nr_files);
	for (i = 0; i < nr_files && !err; i++) {
		err = myfs_image_add(sb, &entries[i]);
		/* Files made after the mount are numbered above every image file. */
		if (entries[i].ino > atomic_long_read(&MYFS_SB(sb)->last_ino))
			atomic_long_set(&MYFS_SB(sb)->last_ino, entries[i].ino);
	}
	kvfree(entries);
	return err;
}

/*
 * Block mode's bdi is myfs's own (see myfs_fill_super); the readahead
 * window is the device's: its read_ahead_kb and its largest I/O are copied
 * here at mount and at every open, before the VFS sets the new file's
 * readahead state from them, so a change to
 * /sys/block/<dev>/queue/read_ahead_kb applies to files opened after it,
 * as on any filesystem over a block device.
 */
void myfs_follow_device_readahead(struct super_block *sb)
{
	struct backing_dev_info *dev = sb->s_bdev->bd_disk->bdi;

	WRITE_ONCE(sb->s_bdi->ra_pages, READ_ONCE(dev->ra_pages));
	WRITE_ONCE(sb->s_bdi->io_pages, READ_ONCE(dev->io_pages));
}

/* ---- buffered reads: our own bios ---- */

struct myfs_bio_ctx {
	struct bio *bio;
	u64 next;		/* the block that would extend the bio */
};

/*
 * May run in interrupt context.  Counts (and records its stack) before the
 * first folio is unlocked: an unmount waits for those folios, then frees
 * the sbi.
 */
static void myfs_read_end_io(struct bio *bio)
{
	struct myfs_sb_info *sbi = bio->bi_private;
	bool ok = bio->bi_status == BLK_STS_OK;
	struct folio_iter fi;

	myfs_hook(sbi, MYFS_BIO_COMPLETE);
	if (!ok)
		myfs_add(sbi, MYFS_BIO_ERROR, 1);
	bio_for_each_folio_all(fi, bio) {
		struct folio *folio = fi.folio;

		if (ok) {
			/* Past EOF a mapping reads zeros, whatever the image holds there. */
			loff_t isize = i_size_read(folio->mapping->host);
			loff_t pos = folio_pos(folio);

			if (isize > pos && isize < pos + folio_size(folio))
				folio_zero_segment(folio, isize - pos, folio_size(folio));
			folio_mark_uptodate(folio);
		}
		folio_unlock(folio);
	}
	bio_put(bio);
}

/* Not inlined: its frame starts every recorded bio_submit path. */
static noinline void myfs_submit(struct myfs_sb_info *sbi, struct myfs_bio_ctx *ctx)
{
	struct bio *bio = ctx->bio;

	if (!bio)
		return;
	ctx->bio = NULL;
	myfs_hook(sbi, MYFS_BIO_SUBMIT);
	myfs_add(sbi, MYFS_BIO_PAGES, bio->bi_iter.bi_size >> PAGE_SHIFT);
	submit_bio(bio);	/* may complete (and free the bio) before it returns */
}

/*
 * Adds a locked folio to the bio in ctx when its block follows the bio's
 * last one and the bio has room, else submits that bio and starts another
 * of up to nr_vecs vectors.
 */
static void myfs_read_folio_into(struct inode *inode, struct myfs_sb_info *sbi,
				 struct myfs_bio_ctx *ctx, struct folio *folio,
				 unsigned int nr_vecs, gfp_t gfp, blk_opf_t flags)
{
	struct bio *bio;
	u64 block;

	if (folio->index >= myfs_blocks(inode)) {
		/* Wholly past EOF (a read races nothing here: sizes never change). */
		folio_zero_range(folio, 0, folio_size(folio));
		folio_mark_uptodate(folio);
		folio_unlock(folio);
		return;
	}
	block = myfs_start(inode) + folio->index;
	if (ctx->bio && block == ctx->next && myfs_bio_add_folio(ctx->bio, folio)) {
		ctx->next = block + folio_nr_pages(folio);
		return;
	}
	myfs_submit(sbi, ctx);
	bio = bio_alloc(inode->i_sb->s_bdev, nr_vecs, REQ_OP_READ | flags, gfp);
	if (!bio) {
		folio_unlock(folio);	/* not uptodate: the reader gets EIO */
		return;
	}
	bio->bi_iter.bi_sector = block << (MYFS_BLOCK_SHIFT - SECTOR_SHIFT);
	bio->bi_end_io = myfs_read_end_io;
	bio->bi_private = sbi;
	if (!myfs_bio_add_folio(bio, folio)) {
		bio_put(bio);
		folio_unlock(folio);
		return;
	}
	ctx->bio = bio;
	ctx->next = block + folio_nr_pages(folio);
}

static int myfs_image_read_folio(struct file *file, struct folio *folio)
{
	struct inode *inode = folio->mapping->host;
	struct myfs_sb_info *sbi = inode_sbi(inode);
	struct myfs_bio_ctx ctx = { };

	myfs_hook(sbi, MYFS_READ_FOLIO);
	myfs_add(sbi, MYFS_READ_FOLIO_PAGES, folio_nr_pages(folio));
	myfs_model_latency(sbi);
	myfs_read_folio_into(inode, sbi, &ctx, folio, 1,
			     mapping_gfp_constraint(folio->mapping, GFP_KERNEL), 0);
	myfs_submit(sbi, &ctx);
	return 0;
}

/* One readahead call: contiguous blocks go out as one bio, up to its limit. */
static void myfs_image_readahead(struct readahead_control *rac)
{
	struct inode *inode = rac->mapping->host;
	struct myfs_sb_info *sbi = inode_sbi(inode);
	/* readahead_gfp_mask() without the page-only zone bits: bvecs are slab memory. */
	gfp_t gfp = mapping_gfp_constraint(rac->mapping, GFP_KERNEL) | __GFP_NORETRY | __GFP_NOWARN;
	struct myfs_bio_ctx ctx = { };
	struct folio *folio;
	u64 folios = 0;

	myfs_hook(sbi, MYFS_READAHEAD);
	myfs_add(sbi, MYFS_READAHEAD_PAGES, readahead_count(rac));
	myfs_model_latency(sbi);
	while ((folio = readahead_folio(rac))) {
		folios++;
		myfs_read_folio_into(inode, sbi, &ctx, folio,
				     bio_max_segs(readahead_count(rac)), gfp, REQ_RAHEAD);
	}
	myfs_submit(sbi, &ctx);
	myfs_add(sbi, MYFS_READAHEAD_FOLIOS, folios);
}

const struct address_space_operations myfs_image_aops = {
	.read_folio	= myfs_image_read_folio,
	.readahead	= myfs_image_readahead,
	.dirty_folio	= noop_dirty_folio,	/* never dirtied: writes are refused */
	.direct_IO	= noop_direct_IO,	/* O_DIRECT opens; reads take myfs_direct_read */
};

/* ---- O_DIRECT: iomap maps the file onto its contiguous blocks ---- */

static int myfs_iomap_begin(struct inode *inode, loff_t pos, loff_t length,
			    unsigned int flags, struct iomap *iomap, struct iomap *srcmap)
{
	u64 end = myfs_blocks(inode) << MYFS_BLOCK_SHIFT;

	if (flags & IOMAP_WRITE)
		return -EPERM;
	iomap->bdev = inode->i_sb->s_bdev;
	iomap->flags = 0;
	if (pos >= end) {
		iomap->type = IOMAP_HOLE;
		iomap->addr = IOMAP_NULL_ADDR;
		iomap->offset = pos;
		iomap->length = length;
		return 0;
	}
	iomap->type = IOMAP_MAPPED;
	iomap->offset = 0;
	iomap->length = end;
	iomap->addr = myfs_start(inode) << MYFS_BLOCK_SHIFT;
	return 0;
}

static const struct iomap_ops myfs_iomap_ops = {
	.iomap_begin	= myfs_iomap_begin,
};

/*
 * An O_DIRECT read of an image file, counted as direct_read.  No lock: an
 * image file's size and blocks never change while mounted.
 */
static ssize_t myfs_direct_read(struct kiocb *iocb, struct iov_iter *to)
{
	struct file *file = iocb->ki_filp;
	ssize_t ret;

	myfs_add(inode_sbi(file_inode(file)), MYFS_DIRECT_READ, 1);
	if (!iov_iter_count(to))
		return 0;
	ret = iomap_dio_rw(iocb, to, &myfs_iomap_ops, NULL, 0, NULL, 0);
	file_accessed(file);
	return ret;
}

/*
 * A read with IOCB_DIRECT: an image file's from the device; a file created
 * after the mount lives in memory and reads through the page cache.
 */
static ssize_t myfs_block_direct_read(struct kiocb *iocb, struct iov_iter *to)
{
	if (!myfs_is_image(file_inode(iocb->ki_filp)))
		return generic_file_read_iter(iocb, to);
	return myfs_direct_read(iocb, to);
}

/*
 * Image files read O_DIRECT from the device (memory files cannot), and the
 * window the VFS gives the file being opened is the device's.
 */
static void myfs_block_open(struct inode *inode, struct file *file)
{
	if (myfs_is_image(inode))
		file->f_mode |= FMODE_CAN_ODIRECT;
	myfs_follow_device_readahead(inode->i_sb);
}

/* What block mode adds to file.c's operations (sbi->device). */
const struct myfs_device_ops myfs_block_device = {
	.direct_read	= myfs_block_direct_read,
	.open		= myfs_block_open,
};
