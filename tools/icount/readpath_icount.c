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
 *           `kernel K user U brackets N\n`.
 * The guest reads the file back over its 9p share of the same directory.
 *
 * Counting is per translation block: on entry to a block its instruction count is added
 * to the vCPU's kernel or user total, by the address of its first instruction. A block
 * left early (a fault or an interrupt in its middle) is counted whole.
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
enum marker { MARK_BEGIN = 0x30625052, MARK_END = 0x30655052, MARK_REPORT = 0x30725052 };

struct vcpu {
	uint64_t insns[2];   /* [0] user, [1] kernel: since the start */
	uint64_t opened[2];  /* insns at the open bracket's begin */
	uint64_t inside[2];  /* summed over closed brackets since the last report */
	uint64_t brackets;
	bool open;
} __attribute__((aligned(64)));

static struct vcpu vcpus[MAX_VCPUS];
static const char *out_path;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* userdata of a block: its instruction count, and bit 63 when it starts in the kernel */
static void on_block(unsigned int vcpu_index, void *userdata)
{
	const uint64_t word = (uint64_t)(uintptr_t)userdata;
	if (vcpu_index < MAX_VCPUS)
		vcpus[vcpu_index].insns[word >> 63] += word & ~(1ULL << 63);
}

static void report(unsigned int vcpu_index, struct vcpu *v)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "kernel %" PRIu64 " user %" PRIu64 " brackets %" PRIu64 " vcpu %u\n",
			 v->inside[1], v->inside[0], v->brackets, vcpu_index);
	v->inside[0] = v->inside[1] = v->brackets = 0;
	pthread_mutex_lock(&out_lock);
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
		v->opened[0] = v->insns[0];
		v->opened[1] = v->insns[1];
		v->open = true;
		break;
	case MARK_END:
		if (!v->open)
			break;
		v->inside[0] += v->insns[0] - v->opened[0];
		v->inside[1] += v->insns[1] - v->opened[1];
		v->brackets++;
		v->open = false;
		break;
	case MARK_REPORT:
		report(vcpu_index, v);
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
	return disp == MARK_BEGIN || disp == MARK_END || disp == MARK_REPORT ? (int)disp : 0;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	const size_t n = qemu_plugin_tb_n_insns(tb);
	if (n == 0)
		return;
	const bool kernel = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, 0)) >= KERNEL_START;
	const uint64_t word = (uint64_t)n | ((uint64_t)kernel << 63);
	qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)word);
	if (kernel)
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
	if (info->system_emulation && info->system.max_vcpus > MAX_VCPUS) {
		qemu_plugin_outs("readpath_icount: more vCPUs than it counts\n");
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	return 0;
}
