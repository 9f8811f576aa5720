// Page-cache state of a file region: measured with mincore, made warm by reading, made
// cold with POSIX_FADV_DONTNEED.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace readpath {

// Fraction (0..1) of the pages of [begin, end) of the file that are in the page cache.
double resident_fraction(int fd, uint64_t begin, uint64_t end);

// The same check, repeatable without new mappings: the mapping mincore needs is made
// once, so checks inside a measured window add no mmap call (myfs counts each one).
class ResidencyProbe {
 public:
  ResidencyProbe(int fd, uint64_t begin, uint64_t end);
  ~ResidencyProbe();
  ResidencyProbe(const ResidencyProbe&) = delete;
  ResidencyProbe& operator=(const ResidencyProbe&) = delete;
  double fraction();

 private:
  void* map_ = nullptr;
  size_t len_ = 0;
  std::vector<unsigned char> vec_;
};

// Reads [begin, end) once so that it is in the page cache.
void make_warm(int fd, uint64_t begin, uint64_t end);

// Asks the kernel to drop [begin, end) from the page cache (clean pages only; the caller
// has written the file back). Whether it worked is for resident_fraction to say.
void evict(int fd, uint64_t begin, uint64_t end);

// A cell's cache state, established for the whole file and confirmed with mincore through
// `probe` (a ResidencyProbe over [0, size)). Both throw readpath::Error starting with the
// state's name and saying what went wrong on filesystem `fstype`.
//
// Cold: evicts, then checks that no page is left (every reader has dropped its mappings:
// mapped pages cannot be evicted).
void make_cold_confirmed(int fd, uint64_t size, ResidencyProbe& probe, const std::string& fstype);
// Warm: reads the file until every page is resident. Reclaim (memory pressure, DAMON
// pageout) may take pages right after they were read, so it tries a few times before
// calling the state impossible.
void make_warm_confirmed(int fd, uint64_t size, ResidencyProbe& probe);

// Evicts [begin, end) and throws when every page stayed: a filesystem that cannot evict at
// all (tmpfs) has no cold state, and saying so early saves the costly rest of a cell.
void check_evictable(int fd, uint64_t begin, uint64_t end, ResidencyProbe& probe, const std::string& fstype);

// How many pages of [begin, end) a residency fraction leaves out.
uint64_t missing_pages(double resident, uint64_t begin, uint64_t end);

}  // namespace readpath
