// Page-cache state of a file region: measured with mincore, made warm by reading, made
// cold with POSIX_FADV_DONTNEED.
#pragma once

#include <cstdint>

namespace readpath {

// Fraction (0..1) of the pages of [begin, end) of the file that are in the page cache.
double resident_fraction(int fd, uint64_t begin, uint64_t end);

// Reads [begin, end) once so that it is in the page cache.
void make_warm(int fd, uint64_t begin, uint64_t end);

// Asks the kernel to drop [begin, end) from the page cache (clean pages only; the caller
// has written the file back). Whether it worked is for resident_fraction to say.
void evict(int fd, uint64_t begin, uint64_t end);

}  // namespace readpath
