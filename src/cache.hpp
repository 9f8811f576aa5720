// Page-cache state of a file region: measured with mincore, made warm by reading, made
// cold with POSIX_FADV_DONTNEED.
#pragma once

#include <cstddef>
#include <cstdint>
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

}  // namespace readpath
