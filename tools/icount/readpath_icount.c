/*
 * readpath_icount: a QEMU TCG plugin that counts the instructions each vCPU executes,
 * kernel (guest vaddr >= 0xffff800000000000) and user apart, between markers the guest
 * executes (src/icount.hpp), and writes the totals to a host file when the guest asks.
 *
 *   qemu-system-x86_64 ... -plugin file=readpath_icount.so,out=/host/path/icount
 *
 * Markers are `nopl DISP32(%rax)` (0f 1f 80 + 4 bytes) with a magic displacement: a
 * no-op on any CPU, with or without this plugin. On the vCPU that executes it:
 *   begin   opens a bracket;
 *   end     closes it and adds what the vCPU executed inside it to its totals;
 *   report  writes that vCPU's totals to the out file (replacing it) and clears them:
 *           `kernel K user U brackets N vcpu V[ interrupts I]\n` (interrupts once the
 *           table below is read); and the kernel instructions executed inside
 *           brackets since the last report, by block, to OUT.blocks (replacing it):
 *           a line `ADDRESS INSTRUCTIONS` (hexadecimal, decimal) per kernel block.
 *   irqs    reads OUT.irq, the guest kernel's interrupt entry points (a hexadecimal
 *           address per line, from its /proc/kallsyms: asm_sysvec_*, asm_common_interrupt),
 *           once per boot.
 * The guest reads the files back over its 9p share of the same directory, and names the
 * blocks' functions from its /proc/kallsyms.
 *
 * Interrupts are counted apart. A block that starts at an interrupt entry point opens an
 * interrupt on its vCPU, a block that ends with iretq closes one; what the vCPU executes
 * while one is open (the handler, the softirqs run on its way out, a task switched to from
 * it until it returns) counts to the bracket's interrupts, not to its kernel or user part:
 * timer ticks follow the host's clock under TCG, so how many land in a pass says nothing of
 * the path under test. Exceptions (page faults) are the reader's own and stay in. Without
 * the table nothing is counted apart.
 *
 * Counting is per translation block: on entry to a block its instruction count is added
 * to the vCPU's kernel or user total, by the address of its first instruction. A block
 * left early (a fault or an interrupt in its middle) is counted whole. Instructions are
 * counted as a CPU's "instructions retired" counts them: a rep-prefixed string instruction
 * once, however many times it repeats. (TCG runs each repetition after the first as a
 * block of its own that starts at the instruction; such a block, entered from a block
 * that ended at the same instruction, adds nothing.) A kernel block
 * executed inside a bracket also adds to that block's own count; the blocks' counts are
 * not per vCPU, so they add up to the kernel total while one vCPU at a time has a bracket
 * open (readpath_bench opens them on one reader's vCPU).
 *
 * QEMU's plugin API version 1 (QEMU 4.2 to 8.x), declared here from its documentation
 * (docs/devel/tcg-plugins.rst, include/qemu/qemu-plugin.h): Debian ships no header.
 */
#define _POSIX_C_SOURCE 200809L  /* O_CLOEXEC */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the plugin API, as documented ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus;
			int max_vcpus;
		} system;
	};
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
					  enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

/* ---- the plugin ---- */
#define KERNEL_START 0xffff800000000000ULL
#define MAX_VCPUS 256
/* The markers' displacements: "RPb0", "RPe0", "RPr0" read as little-endian words. */
enum marker { MARK_BEGIN = 0x30625052, MARK_END = 0x30655052, MARK_REPORT = 0x30725052, MARK_IRQS = 0x30695052 };

struct vcpu {
	uint64_t insns[2];   /* [0] user, [1] kernel: since the start */
	uint64_t last;       /* the address of the last instruction of the block it ran last */
	unsigned irq_depth;  /* interrupts open (nested) */
	uint64_t irq_insns;  /* executed inside interrupts: since the start */
	uint64_t opened_irq;
	uint64_t inside_irq;
	uint64_t opened[2];  /* insns at the open bracket's begin */
	uint64_t inside[2];  /* summed over closed brackets since the last report */
	uint64_t brackets;
	bool open;
} __attribute__((aligned(64)));

static struct vcpu vcpus[MAX_VCPUS];
static const char *out_path;
static char *blocks_path, *irq_path;

/* The interrupt entry points, sorted, published once (irq_table_gen 0 -> 1). */
static uint64_t *irq_table;
static size_t irq_table_n;
static unsigned irq_table_gen;
static pthread_mutex_t irq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* A kernel translation block, one per (address, size) however often QEMU translates it
 * again: the userdata of its exec callback. */
struct block {
	uint64_t vaddr;
	uint64_t n;          /* instructions */
	uint64_t last;       /* the address of its last instruction */
	bool rep_first;      /* its first instruction is a rep-prefixed string instruction */
	bool kernel;
	bool iret_last;      /* it ends with iretq */
	bool irq_entry;      /* it starts at an interrupt entry point, as of irq_table_gen */
	unsigned irq_gen;
	uint64_t bracketed;  /* kernel: instructions inside a bracket since the last report (atomic) */
};

/* Every block, in an open-addressing table (keys never removed) that grows at
 * translation time, under its lock; the exec callbacks only read the entries. */
static struct block **table;
static size_t table_size, table_used;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(uint64_t vaddr, uint64_t n, size_t size)
{
	uint64_t h = (vaddr ^ (n << 48)) * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 20) & (size - 1);
}

static bool grow(void)
{
	const size_t size = table_size ? table_size * 2 : 1 << 16;
	struct block **bigger = calloc(size, sizeof(*bigger));
	if (!bigger)
		return false;
	for (size_t i = 0; i < table_size; i++) {
		if (!table[i])
			continue;
		size_t j = slot_of(table[i]->vaddr, table[i]->n, size);
		while (bigger[j])
			j = (j + 1) & (size - 1);
		bigger[j] = table[i];
	}
	free(table);
	table = bigger;
	table_size = size;
	return true;
}

/* The block at vaddr with n instructions, made on first sight (with the rest of what
 * describes it); NULL without memory. */
static struct block *intern(uint64_t vaddr, uint64_t n, uint64_t last, bool rep_first, bool iret_last)
{
	struct block *found = NULL;
	pthread_mutex_lock(&table_lock);
	if ((table_used + 1) * 2 > table_size && !grow())
		goto out;
	size_t i = slot_of(vaddr, n, table_size);
	while (table[i] && (table[i]->vaddr != vaddr || table[i]->n != n))
		i = (i + 1) & (table_size - 1);
	if (!table[i]) {
		struct block *b = calloc(1, sizeof(*b));
		if (!b)
			goto out;
		b->vaddr = vaddr;
		b->n = n;
		b->last = last;
		b->rep_first = rep_first;
		b->kernel = vaddr >= KERNEL_START;
		b->iret_last = iret_last;
		table[i] = b;
		table_used++;
	}
	found = table[i];
out:
	pthread_mutex_unlock(&table_lock);
	return found;
}

static int compare_addresses(const void *a, const void *b)
{
	const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Whether vaddr is an interrupt entry point; refreshes the block's answer when the table
 * came after it was asked (blocks are translated long before a table is read). */
static bool starts_interrupt(struct block *b)
{
	const unsigned gen = __atomic_load_n(&irq_table_gen, __ATOMIC_ACQUIRE);
	if (!b->kernel || gen == 0)
		return false;
	if (b->irq_gen != gen) {  /* vCPUs may race here; they store the same answer */
		b->irq_entry = bsearch(&b->vaddr, irq_table, irq_table_n, sizeof(*irq_table), compare_addresses) != NULL;
		b->irq_gen = gen;
	}
	return b->irq_entry;
}

/* Reads OUT.irq once: the guest kernel's interrupt entry points. */
static void load_irq_table(void)
{
	pthread_mutex_lock(&irq_lock);
	if (__atomic_load_n(&irq_table_gen, __ATOMIC_ACQUIRE) != 0)
		goto out;
	FILE *f = fopen(irq_path, "re");
	if (!f) {
		qemu_plugin_outs("readpath_icount: no interrupt table to read; interrupts stay in the counts\n");
		goto out;
	}
	size_t cap = 64, n = 0;
	uint64_t *entries = malloc(cap * sizeof(*entries)), address;
	while (entries && fscanf(f, "%" SCNx64, &address) == 1) {
		if (n == cap) {
			uint64_t *bigger = realloc(entries, (cap *= 2) * sizeof(*entries));
			if (!bigger) {
				free(entries);
				entries = NULL;
				break;
			}
			entries = bigger;
		}
		entries[n++] = address;
	}
	fclose(f);
	if (!entries || n == 0) {
		free(entries);
		qemu_plugin_outs("readpath_icount: an empty interrupt table; interrupts stay in the counts\n");
		goto out;
	}
	qsort(entries, n, sizeof(*entries), compare_addresses);
	irq_table = entries;
	irq_table_n = n;
	__atomic_store_n(&irq_table_gen, 1, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&irq_lock);
}

/* userdata: the block's struct block */
static void on_block(unsigned int vcpu_index, void *userdata)
{
	struct block *b = userdata;
	if (vcpu_index >= MAX_VCPUS)
		return;
	struct vcpu *v = &vcpus[vcpu_index];
	if (starts_interrupt(b))
		v->irq_depth++;
	/* A repetition of the rep instruction the vCPU stopped at: it retired once already. */
	const uint64_t n = b->rep_first && v->last == b->vaddr ? b->n - 1 : b->n;
	v->last = b->last;
	if (v->irq_depth) {
		v->irq_insns += n;
	} else {
		v->insns[b->kernel] += n;
		if (b->kernel && v->open && n)
			__atomic_fetch_add(&b->bracketed, n, __ATOMIC_RELAXED);
	}
	if (b->iret_last && v->irq_depth)
		v->irq_depth--;
}

/* Whether insn is iretq. */
static bool is_iretq(const struct qemu_plugin_insn *insn)
{
	const unsigned char *b = qemu_plugin_insn_data(insn);
	return qemu_plugin_insn_size(insn) == 2 && b[0] == 0x48 && b[1] == 0xcf;
}

/* Whether insn is a string instruction with a rep/repe/repne prefix. */
static bool is_rep_string(const struct qemu_plugin_insn *insn)
{
	const unsigned char *b = qemu_plugin_insn_data(insn);
	const size_t size = qemu_plugin_insn_size(insn);
	bool rep = false;
	size_t i = 0;
	for (; i < size; i++) {  /* legacy prefixes */
		const unsigned char c = b[i];
		if (c == 0xf2 || c == 0xf3)
			rep = true;
		else if (c != 0xf0 && c != 0x2e && c != 0x36 && c != 0x3e && c != 0x26 && c != 0x64 &&
			 c != 0x65 && c != 0x66 && c != 0x67)
			break;
	}
	if (i < size && (b[i] & 0xf0) == 0x40)  /* REX */
		i++;
	if (!rep || i >= size)
		return false;
	const unsigned char op = b[i];
	return (op >= 0x6c && op <= 0x6f) || (op >= 0xa4 && op <= 0xa7) || (op >= 0xaa && op <= 0xaf);
}

/* Writes OUT.blocks: the bracketed kernel instructions by block, clearing them. */
static bool write_blocks(void)
{
	FILE *f = fopen(blocks_path, "we");
	if (!f)
		return false;
	pthread_mutex_lock(&table_lock);
	for (size_t i = 0; i < table_size; i++) {
		struct block *b = table[i];
		if (!b)
			continue;
		const uint64_t insns = __atomic_exchange_n(&b->bracketed, 0, __ATOMIC_RELAXED);
		if (insns)
			fprintf(f, "%" PRIx64 " %" PRIu64 "\n", b->vaddr, insns);
	}
	pthread_mutex_unlock(&table_lock);
	return fclose(f) == 0;
}

static void report(unsigned int vcpu_index, struct vcpu *v)
{
	char line[128];
	/* "interrupts" only once the table is there: without it nothing is counted apart. */
	int n = snprintf(line, sizeof(line), "kernel %" PRIu64 " user %" PRIu64 " brackets %" PRIu64 " vcpu %u",
			 v->inside[1], v->inside[0], v->brackets, vcpu_index);
	if (__atomic_load_n(&irq_table_gen, __ATOMIC_ACQUIRE))
		n += snprintf(line + n, sizeof(line) - (size_t)n, " interrupts %" PRIu64, v->inside_irq);
	n += snprintf(line + n, sizeof(line) - (size_t)n, "\n");
	v->inside[0] = v->inside[1] = v->brackets = v->inside_irq = 0;
	pthread_mutex_lock(&out_lock);
	/* The blocks first: the guest reads them once the totals' file is there. */
	if (!write_blocks()) {
		char why[256];
		snprintf(why, sizeof(why), "readpath_icount: cannot write %s\n", blocks_path);
		qemu_plugin_outs(why);
	}
	int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n) {
		char why[256];
		snprintf(why, sizeof(why), "readpath_icount: cannot write %s\n", out_path);
		qemu_plugin_outs(why);
	}
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&out_lock);
}

static void on_marker(unsigned int vcpu_index, void *userdata)
{
	if (vcpu_index >= MAX_VCPUS)
		return;
	struct vcpu *v = &vcpus[vcpu_index];
	switch ((enum marker)(uintptr_t)userdata) {
	case MARK_BEGIN:
		v->irq_depth = 0;  /* the marker is user code: no interrupt is open */
		v->opened[0] = v->insns[0];
		v->opened[1] = v->insns[1];
		v->opened_irq = v->irq_insns;
		v->open = true;
		break;
	case MARK_END:
		if (!v->open)
			break;
		v->inside[0] += v->insns[0] - v->opened[0];
		v->inside[1] += v->insns[1] - v->opened[1];
		v->inside_irq += v->irq_insns - v->opened_irq;
		v->brackets++;
		v->open = false;
		break;
	case MARK_REPORT:
		report(vcpu_index, v);
		break;
	case MARK_IRQS:
		load_irq_table();
		break;
	}
}

static int marker_of(const struct qemu_plugin_insn *insn)
{
	const unsigned char *b = qemu_plugin_insn_data(insn);
	if (qemu_plugin_insn_size(insn) != 7 || b[0] != 0x0f || b[1] != 0x1f || b[2] != 0x80)
		return 0;
	uint32_t disp;
	memcpy(&disp, b + 3, sizeof(disp));
	return disp == MARK_BEGIN || disp == MARK_END || disp == MARK_REPORT || disp == MARK_IRQS ? (int)disp : 0;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	const size_t n = qemu_plugin_tb_n_insns(tb);
	if (n == 0)
		return;
	const struct qemu_plugin_insn *first = qemu_plugin_tb_get_insn(tb, 0);
	const uint64_t vaddr = qemu_plugin_insn_vaddr(first);
	const struct qemu_plugin_insn *last = qemu_plugin_tb_get_insn(tb, n - 1);
	struct block *b = intern(vaddr, n, qemu_plugin_insn_vaddr(last), is_rep_string(first), is_iretq(last));
	if (!b) {
		qemu_plugin_outs("readpath_icount: out of memory; a block goes uncounted\n");
		return;
	}
	qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
	if (b->kernel)
		return;  /* the markers are user code */
	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		const int mark = marker_of(insn);
		if (mark)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
							       (void *)(uintptr_t)mark);
	}
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (strncmp(argv[i], "out=", 4) == 0)
			out_path = argv[i] + 4;
	if (!out_path || !*out_path) {
		qemu_plugin_outs("readpath_icount: needs out=FILE\n");
		return -1;
	}
	blocks_path = malloc(strlen(out_path) + sizeof(".blocks"));
	if (!blocks_path)
		return -1;
	strcpy(blocks_path, out_path);
	strcat(blocks_path, ".blocks");
	irq_path = malloc(strlen(out_path) + sizeof(".irq"));
	if (!irq_path)
		return -1;
	strcpy(irq_path, out_path);
	strcat(irq_path, ".irq");
	if (info->system_emulation && info->system.max_vcpus > MAX_VCPUS) {
		qemu_plugin_outs("readpath_icount: more vCPUs than it counts\n");
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	return 0;
}
