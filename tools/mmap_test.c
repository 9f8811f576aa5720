/*
 * mmap_test - the seed's mmap check of myfs as a small program: map a file
 * shared, print its size and the physical frame behind each mapped page
 * (from /proc/self/pagemap), write the word 0x66616365 ("face") across the
 * mapping, read the file back through read(2) and check every byte.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "/mnt/myfs/myfile"
#define FACE_WORD 0x66616365u		/* "face" read as a big-endian string */
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_PFN_MASK ((1ull << 55) - 1)
#define READ_CHUNK (1u << 20)

static const char usage_text[] =
	"usage: mmap_test [--size BYTES] [--quiet] [PATH]\n"
	"\n"
	"Maps PATH (default " DEFAULT_PATH ") shared and read-write, prints its size\n"
	"and the physical frame behind each page, writes the 32-bit word 0x66616365\n"
	"(\"face\") across the whole mapping, then reads the file back with read(2)\n"
	"and checks every byte.\n"
	"\n"
	"  --size BYTES  first create PATH if missing and set its size (K, M, G suffixes)\n"
	"  --quiet       print the frame of each page only in the summary count\n"
	"  -h, --help    show this help\n"
	"\n"
	"Frame numbers need CAP_SYS_ADMIN; without it the kernel shows them as 0.\n"
	"Exit status: 0 if every byte read back matches, 1 on a mismatch or error,\n"
	"2 on bad usage.\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "mmap_test: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'mmap_test --help'.\n");
	return 2;
}

/* Parses "123", "64K", "1M", "2G" (powers of 1024); false if malformed. */
static bool parse_size(const char *text, off_t *out)
{
	char *end;
	unsigned long long value, shift = 0;

	errno = 0;
	if (!*text || *text == '-')
		return false;
	value = strtoull(text, &end, 10);
	if (errno || end == text)
		return false;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return false;
	}
	if (*end || value > (unsigned long long)INT64_MAX >> shift)
		return false;
	*out = (off_t)(value << shift);
	return true;
}

/* Reads the pagemap entry of one virtual address; false (errno set) on failure. */
static bool pagemap_entry(int pagemap_fd, const void *addr, long page_size,
			  uint64_t *entry)
{
	off_t offset = (off_t)((uintptr_t)addr / (uintptr_t)page_size) * 8;

	return pread(pagemap_fd, entry, sizeof(*entry), offset) == sizeof(*entry);
}

static int print_frames(const unsigned char *map, size_t size, long page_size,
			bool quiet)
{
	size_t pages = (size + (size_t)page_size - 1) / (size_t)page_size;
	size_t present = 0, with_pfn = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0) {
		fprintf(stderr, "mmap_test: open /proc/self/pagemap: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < pages; i++) {
		const unsigned char *addr = map + i * (size_t)page_size;
		uint64_t entry;

		if (!pagemap_entry(fd, addr, page_size, &entry)) {
			fprintf(stderr, "mmap_test: read /proc/self/pagemap: %s\n",
				errno ? strerror(errno) : "short read");
			close(fd);
			return 1;
		}
		uint64_t pfn = entry & PAGEMAP_PFN_MASK;
		bool is_present = entry & PAGEMAP_PRESENT;

		present += is_present;
		with_pfn += pfn != 0;
		if (quiet)
			continue;
		if (!is_present)
			printf("page %zu: virt addr %p, not present\n", i, (const void *)addr);
		else
			printf("page %zu: virt addr %p, pfn 0x%" PRIx64 ", phys addr 0x%" PRIx64 "\n",
			       i, (const void *)addr, pfn, pfn * (uint64_t)page_size);
	}
	close(fd);
	printf("%zu of %zu pages present", present, pages);
	if (present && !with_pfn)
		printf(" (frame numbers hidden: run as root to see them)");
	printf("\n");
	return 0;
}

/* Reads the file back through read(2), comparing with the pattern. */
static int check_read_back(int fd, const char *path, size_t size)
{
	const uint32_t word = FACE_WORD;
	const unsigned char *pattern = (const unsigned char *)&word;
	unsigned char *buf = malloc(READ_CHUNK);
	size_t done = 0;

	if (!buf) {
		fprintf(stderr, "mmap_test: malloc: %s\n", strerror(errno));
		return 1;
	}
	while (done < size) {
		size_t want = size - done < READ_CHUNK ? size - done : READ_CHUNK;
		ssize_t got = pread(fd, buf, want, (off_t)done);

		if (got < 0) {
			fprintf(stderr, "mmap_test: read %s: %s\n", path, strerror(errno));
			free(buf);
			return 1;
		}
		if (got == 0) {
			fprintf(stderr, "mmap_test: read %s: end of file at %zu of %zu bytes\n",
				path, done, size);
			free(buf);
			return 1;
		}
		for (size_t i = 0; i < (size_t)got; i++) {
			if (buf[i] != pattern[(done + i) % 4]) {
				fprintf(stderr, "mmap_test: %s: byte %zu reads 0x%02x, expected 0x%02x\n",
					path, done + i, buf[i], pattern[(done + i) % 4]);
				free(buf);
				return 1;
			}
		}
		done += (size_t)got;
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "size", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = DEFAULT_PATH;
	off_t new_size = -1;
	bool quiet = false;
	long page_size = sysconf(_SC_PAGESIZE);
	struct stat st;
	int opt, fd, ret;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (!parse_size(optarg, &new_size))
				return usage_error("--size: '%s' is not a size such as 196608 or 192K", optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error("%s", "unknown option");
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);

	fd = open(path, O_RDWR | (new_size >= 0 ? O_CREAT : 0), 0644);
	if (fd < 0) {
		fprintf(stderr, "mmap_test: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (new_size >= 0 && ftruncate(fd, new_size) < 0) {
		fprintf(stderr, "mmap_test: truncate %s to %jd bytes: %s\n", path,
			(intmax_t)new_size, strerror(errno));
		close(fd);
		return 1;
	}
	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "mmap_test: stat %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	if (st.st_size == 0) {
		fprintf(stderr, "mmap_test: %s is empty; give it a size with --size\n", path);
		close(fd);
		return 1;
	}
	size_t size = (size_t)st.st_size;

	printf("%s size %zu\n", path, size);
	unsigned char *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "mmap_test: mmap %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}

	/* Word by word, as the seed did; the tail of an odd size gets the word's first bytes. */
	const uint32_t word = FACE_WORD;
	size_t words = size / 4;
	for (size_t i = 0; i < words; i++)
		((volatile uint32_t *)map)[i] = word;
	memcpy(map + words * 4, &word, size % 4);

	ret = print_frames(map, size, page_size, quiet);
	if (ret == 0) {
		printf("Write/Read test ...\n");
		ret = check_read_back(fd, path, size);
	}
	if (ret == 0)
		printf("0x%08x across %zu bytes read back through read(2): ok\n", word, size);
	munmap(map, size);
	close(fd);
	return ret;
}
