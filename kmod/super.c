// SPDX-License-Identifier: GPL-2.0
/*
 * super.c - myfs: a ramfs-like filesystem whose read paths are counted and
 * traced (readpath's filesystem under test).  This file holds the mount
 * options, the superblock, directories and the module's entry points;
 * file.c holds the instrumented file hooks, block.c block mode (an image on
 * a block device), stats.c the counters' sysfs.
 */
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/pagemap.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/backing-dev.h>
#include <linux/blkdev.h>
#include <linux/capability.h>

#include "compat.h"
#include "myfs.h"

/* ---- mount options ---- */

enum myfs_param {
	Opt_synthetic,
	Opt_read_latency_ns,
	Opt_read_latency_wait,
	Opt_read,
	Opt_fault_around,
	Opt_trace,
	Opt_counters,
	Opt_nowait,
	Opt_large_folios,
};

static const struct constant_table myfs_param_read[] = {
	{ "iter", MYFS_READ_MODE_ITER },
	{ "read", MYFS_READ_MODE_READ },
	{}
};

static const struct constant_table myfs_param_wait[] = {
	{ "sleep", false },
	{ "spin", true },
	{}
};

static const struct constant_table myfs_param_on_off[] = {
	{ "on", true },
	{ "off", false },
	{}
};

static const struct constant_table myfs_param_trace[] = {
	{ "off", MYFS_TRACE_OFF },
	{ "once", MYFS_TRACE_ONCE },
	{ "dmesg", MYFS_TRACE_DMESG },
	{}
};

static const struct fs_parameter_spec myfs_fs_parameters[] = {
	fsparam_flag("synthetic", Opt_synthetic),
	fsparam_u64("read_latency_ns", Opt_read_latency_ns),
	fsparam_enum("read_latency_wait", Opt_read_latency_wait, myfs_param_wait),
	fsparam_enum("read", Opt_read, myfs_param_read),
	fsparam_enum("fault_around", Opt_fault_around, myfs_param_on_off),
	fsparam_enum("trace", Opt_trace, myfs_param_trace),
	fsparam_enum("counters", Opt_counters, myfs_param_on_off),
	fsparam_enum("nowait", Opt_nowait, myfs_param_on_off),
	fsparam_enum("large_folios", Opt_large_folios, myfs_param_on_off),
	{}
};

struct myfs_fs_context {
	struct myfs_options opts;
	bool trace_given;
};

static int myfs_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct myfs_fs_context *ctx = fc->fs_private;
	struct fs_parse_result result;
	int opt;

	/* Unknown keys return -ENOPARAM: the VFS then names them in its error. */
	opt = fs_parse(fc, myfs_fs_parameters, param, &result);
	if (opt < 0)
		return opt;

	switch (opt) {
	case Opt_synthetic:
		ctx->opts.synthetic = true;
		break;
	case Opt_read_latency_ns:
		if (result.uint_64 > MYFS_MAX_READ_LATENCY_NS)
			return invalfc(fc, "read_latency_ns: %llu is over the limit of %llu (1 s)",
				       result.uint_64, MYFS_MAX_READ_LATENCY_NS);
		ctx->opts.read_latency_ns = result.uint_64;
		break;
	case Opt_read_latency_wait:
		ctx->opts.read_latency_spin = result.uint_32;
		break;
	case Opt_read:
		ctx->opts.read_mode = result.uint_32;
		break;
	case Opt_fault_around:
		ctx->opts.fault_around = result.uint_32;
		break;
	case Opt_trace:
		ctx->opts.trace = result.uint_32;
		ctx->trace_given = true;
		break;
	case Opt_counters:
		ctx->opts.counters = result.uint_32;
		break;
	case Opt_nowait:
		ctx->opts.nowait = result.uint_32;
		break;
	case Opt_large_folios:
		ctx->opts.large_folios = result.uint_32;
		break;
	}
	return 0;
}

static int myfs_show_options(struct seq_file *m, struct dentry *root)
{
	struct myfs_options *opts = &MYFS_SB(root->d_sb)->opts;
	u64 latency = READ_ONCE(opts->read_latency_ns);

	if (opts->synthetic)
		seq_puts(m, ",synthetic");
	if (latency)
		seq_printf(m, ",read_latency_ns=%llu", latency);
	if (READ_ONCE(opts->read_latency_spin))
		seq_puts(m, ",read_latency_wait=spin");
	seq_printf(m, ",read=%s", READ_ONCE(opts->read_mode) == MYFS_READ_MODE_READ ?
		   "read" : "iter");
	seq_printf(m, ",fault_around=%s", READ_ONCE(opts->fault_around) ? "on" : "off");
	seq_printf(m, ",trace=%s", myfs_param_trace[READ_ONCE(opts->trace)].name);
	seq_printf(m, ",counters=%s", READ_ONCE(opts->counters) ? "on" : "off");
	if (READ_ONCE(opts->nowait))
		seq_puts(m, ",nowait=on");
	if (READ_ONCE(opts->large_folios))
		seq_puts(m, ",large_folios=on");
	return 0;
}

/* ---- inodes and directories (after fs/ramfs/inode.c) ---- */

static const struct inode_operations myfs_dir_inode_operations;
static const struct super_operations myfs_super_operations;

static struct inode *myfs_get_inode(struct super_block *sb, const struct inode *dir,
				    umode_t mode, dev_t dev)
{
	struct inode *inode = new_inode(sb);

	if (!inode)
		return NULL;
	inode->i_ino = MYFS_SB(sb)->own_inos ? atomic_long_inc_return(&MYFS_SB(sb)->last_ino) :
		       get_next_ino();
	inode_init_owner(MYFS_NOP_IDMAP, inode, dir, mode);
	inode->i_mapping->a_ops = &ram_aops;
	mapping_set_gfp_mask(inode->i_mapping, GFP_HIGHUSER);
	myfs_inode_init_times(inode);

	switch (mode & S_IFMT) {
	case S_IFREG:
		inode->i_op = &myfs_file_inode_operations;
		inode->i_fop = &myfs_file_operations;
		inode->i_mapping->a_ops = &myfs_aops;
		/* -o large_folios: the page cache may use folios of any order it offers. */
		if (READ_ONCE(MYFS_SB(sb)->opts.large_folios))
			mapping_set_large_folios(inode->i_mapping);
		/* Synthetic pages are clean and can be regenerated: let them go. */
		if (!MYFS_SB(sb)->opts.synthetic)
			mapping_set_unevictable(inode->i_mapping);
		break;
	case S_IFDIR:
		inode->i_op = &myfs_dir_inode_operations;
		inode->i_fop = &simple_dir_operations;
		inc_nlink(inode);	/* "." */
		break;
	case S_IFLNK:
		inode->i_op = &page_symlink_inode_operations;
		inode_nohighmem(inode);
		mapping_set_unevictable(inode->i_mapping);
		break;
	default:
		init_special_inode(inode, mode, dev);
		break;
	}
	return inode;
}

static int myfs_mknod(myfs_idmap_t *idmap, struct inode *dir,
		      struct dentry *dentry, umode_t mode, dev_t dev)
{
	struct inode *inode = myfs_get_inode(dir->i_sb, dir, mode, dev);

	if (!inode)
		return -ENOSPC;
	myfs_make_persistent(dentry, inode);	/* pinned in the dcache, as in ramfs */
	myfs_inode_touch(dir);
	return 0;
}

static myfs_mkdir_ret_t myfs_mkdir(myfs_idmap_t *idmap, struct inode *dir,
				   struct dentry *dentry, umode_t mode)
{
	int err = myfs_mknod(idmap, dir, dentry, mode | S_IFDIR, 0);

	if (!err)
		inc_nlink(dir);
	return MYFS_MKDIR_RETURN(err);
}

static int myfs_create(myfs_idmap_t *idmap, struct inode *dir,
		       struct dentry *dentry, umode_t mode MYFS_CREATE_EXCL_PARAM)
{
	return myfs_mknod(idmap, dir, dentry, mode | S_IFREG, 0);
}

static int myfs_symlink(myfs_idmap_t *idmap, struct inode *dir,
			struct dentry *dentry, const char *symname)
{
	struct inode *inode = myfs_get_inode(dir->i_sb, dir, S_IFLNK | 0777, 0);
	int err;

	if (!inode)
		return -ENOSPC;
	err = page_symlink(inode, symname, strlen(symname) + 1);
	if (err) {
		iput(inode);
		return err;
	}
	myfs_make_persistent(dentry, inode);
	myfs_inode_touch(dir);
	return 0;
}

/* ---- superblock and mount ---- */

static int myfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct myfs_fs_context *ctx = fc->fs_private;
	struct myfs_sb_info *sbi;
	struct inode *root;
	int err;

	sbi = myfs_sbi_alloc();
	if (!sbi)
		return -ENOMEM;
	sbi->opts = ctx->opts;
	sb->s_fs_info = sbi;	/* myfs_kill_sb frees it, also on failure */

	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_magic = MYFS_MAGIC;
	sb->s_op = &myfs_super_operations;
	sb->s_time_gran = 1;

	if (sb->s_bdev) {
		/* Block mode: the block size is the image's. */
		if (!sb_set_blocksize(sb, MYFS_BLOCK_SIZE))
			return invalfc(fc, "%s: the device cannot use 4096-byte blocks (logical block size %u)",
				       fc->source, bdev_logical_block_size(sb->s_bdev));
		/*
		 * Not the device's bdi, which get_tree_bdev gave us: with it
		 * the files created after the mount (ramfs-like, dirty for
		 * good) would be accounted for writeback that never comes,
		 * and truncating one crashes in the accounting.  A bdi of our
		 * own as in page-cache mode, named myfs-<major>:<minor>; its
		 * readahead window follows the device's (myfs_open).
		 */
		bdi_put(sb->s_bdi);
		sb->s_bdi = &noop_backing_dev_info;
		err = super_setup_bdi_name(sb, "myfs-%u:%u", MAJOR(sb->s_dev), MINOR(sb->s_dev));
		if (err)
			return err;
		sb->s_bdi->capabilities = 0;
		myfs_follow_device_readahead(sb);
		sbi->own_inos = true;	/* the root below is 1 */
		sbi->device = &myfs_block_device;
		atomic_long_set(&sbi->last_ino, 0);
	} else {
		sb->s_blocksize = PAGE_SIZE;
		sb->s_blocksize_bits = PAGE_SHIFT;
		/*
		 * ramfs sits on the noop bdi, which has no readahead window:
		 * reads would never reach ->readahead.  A bdi of our own, named
		 * like a block device's (/sys/class/bdi/<major>:<minor>/
		 * read_ahead_kb), gets the default window; no capabilities, as
		 * on the noop bdi, so dirty pages are neither accounted nor
		 * written back (there is no backing).
		 */
		err = super_setup_bdi_name(sb, "%u:%u", MAJOR(sb->s_dev), MINOR(sb->s_dev));
		if (err)
			return err;
		sb->s_bdi->capabilities = 0;
	}

	root = myfs_get_inode(sb, NULL, S_IFDIR | 0755, 0);
	sb->s_root = d_make_root(root);
	if (!sb->s_root)
		return -ENOMEM;
	if (sb->s_bdev) {
		err = myfs_image_load(sb, fc);
		if (err)
			return err;
	}
	return myfs_sysfs_add(sbi, sb->s_dev);
}

/*
 * Block mode when the source names a block device: a path under /dev/ (so
 * a missing device fails the mount rather than making a memory mount
 * named like one), or any path that resolves to a block device.
 */
static bool myfs_source_is_bdev(const char *source)
{
	dev_t dev;

	if (!source)
		return false;
	if (!strncmp(source, "/dev/", 5))
		return true;
	return source[0] == '/' && !lookup_bdev(source, &dev);
}

static int myfs_get_tree(struct fs_context *fc)
{
	struct myfs_fs_context *ctx = fc->fs_private;

	if (!myfs_source_is_bdev(fc->source))
		return get_tree_nodev(fc, myfs_fill_super);
	if (ctx->opts.synthetic)
		return invalfc(fc, "synthetic and a block device exclude each other");
	/* Images are parsed by the kernel: only the real root may mount them. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	return get_tree_bdev(fc, myfs_fill_super);
}

static int myfs_reconfigure(struct fs_context *fc)
{
	struct myfs_fs_context *ctx = fc->fs_private;
	struct myfs_sb_info *sbi = MYFS_SB(fc->root->d_sb);

	if (ctx->opts.synthetic && !sbi->opts.synthetic)
		return invalfc(fc, "synthetic cannot be added on remount; unmount and mount again");
	if (ctx->trace_given)
		myfs_paths_clear(sbi);
	WRITE_ONCE(sbi->opts.read_latency_ns, ctx->opts.read_latency_ns);
	WRITE_ONCE(sbi->opts.read_latency_spin, ctx->opts.read_latency_spin);
	WRITE_ONCE(sbi->opts.read_mode, ctx->opts.read_mode);
	WRITE_ONCE(sbi->opts.fault_around, ctx->opts.fault_around);
	WRITE_ONCE(sbi->opts.trace, ctx->opts.trace);
	WRITE_ONCE(sbi->opts.counters, ctx->opts.counters);
	WRITE_ONCE(sbi->opts.nowait, ctx->opts.nowait);
	WRITE_ONCE(sbi->opts.large_folios, ctx->opts.large_folios);
	return 0;
}

static void myfs_free_fc(struct fs_context *fc)
{
	kfree(fc->fs_private);
}

static const struct fs_context_operations myfs_context_ops = {
	.free		= myfs_free_fc,
	.parse_param	= myfs_parse_param,
	.get_tree	= myfs_get_tree,
	.reconfigure	= myfs_reconfigure,
};

static int myfs_init_fs_context(struct fs_context *fc)
{
	struct myfs_fs_context *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	if (fc->purpose == FS_CONTEXT_FOR_RECONFIGURE) {
		/* A remount changes only the options it names. */
		ctx->opts = MYFS_SB(fc->root->d_sb)->opts;
	} else {
		ctx->opts.read_mode = MYFS_READ_MODE_ITER;
		ctx->opts.fault_around = true;
		ctx->opts.trace = MYFS_TRACE_OFF;
		ctx->opts.counters = true;
	}
	fc->fs_private = ctx;
	fc->ops = &myfs_context_ops;
	return 0;
}

/*
 * Before persistent dentries (compat.h), unpins every dentry below the
 * root, as kill_litter_super's d_genocide does (6.1 exports d_genocide,
 * 6.12 no longer does): each positive child of the root goes with its
 * subtree through simple_recursive_removal, which drops the pin every myfs
 * dentry holds.  Since, umount drops the pins itself.
 */
static void myfs_unpin_tree(struct super_block *sb)
{
	struct dentry *root = sb->s_root, *child, *victim;

	if (!root)
		return;
	for (;;) {
		victim = NULL;
		spin_lock(&root->d_lock);
		myfs_for_each_child(child, root) {
			if (simple_positive(child)) {
				victim = dget(child);
				break;
			}
		}
		spin_unlock(&root->d_lock);
		if (!victim)
			break;
		simple_recursive_removal(victim, NULL);
		dput(victim);
	}
}

static void myfs_kill_sb(struct super_block *sb)
{
	struct myfs_sb_info *sbi = MYFS_SB(sb);

	/* Remove /sys/fs/myfs/<dev> before the device number can be reused. */
	if (sbi)
		myfs_sysfs_del(sbi);
	if (sb->s_bdev) {
		/*
		 * Block mode.  Evicting the inodes waits for bios in flight,
		 * whose end_io counts on the sbi: it is freed only after.
		 */
		if (!MYFS_HAS_PERSISTENT_DENTRIES)
			myfs_unpin_tree(sb);
		kill_block_super(sb);
	} else {
		myfs_kill_nodev_super(sb);
	}
	sb->s_fs_info = NULL;
	if (sbi)
		myfs_sbi_put(sbi);
}

static struct file_system_type myfs_fs_type = {
	.owner			= THIS_MODULE,
	.name			= MYFS_NAME,
	.init_fs_context	= myfs_init_fs_context,
	.parameters		= myfs_fs_parameters,
	.kill_sb		= myfs_kill_sb,
	.fs_flags		= FS_USERNS_MOUNT,
};

static int __init myfs_init(void)
{
	int err;

	err = myfs_sysfs_init();
	if (err)
		return err;
	err = register_filesystem(&myfs_fs_type);
	if (err)
		goto out_sysfs;
	return 0;

out_sysfs:
	myfs_sysfs_exit();
	return err;
}

static void __exit myfs_exit(void)
{
	unregister_filesystem(&myfs_fs_type);
	myfs_sysfs_exit();
}

static const struct inode_operations myfs_dir_inode_operations = {
	.create		= myfs_create,
	.lookup		= simple_lookup,
	.link		= simple_link,
	.unlink		= simple_unlink,
	.symlink	= myfs_symlink,
	.mkdir		= myfs_mkdir,
	.rmdir		= simple_rmdir,
	.mknod		= myfs_mknod,
	.rename		= simple_rename,
};

static const struct super_operations myfs_super_operations = {
	.statfs		= simple_statfs,
	.drop_inode	= myfs_drop_inode,
	.show_options	= myfs_show_options,
};

module_init(myfs_init);
module_exit(myfs_exit);
MODULE_ALIAS_FS(MYFS_NAME);
MODULE_DESCRIPTION("myfs: instrumented page-cache filesystem for readpath");
MODULE_LICENSE("GPL");
