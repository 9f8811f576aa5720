// mincore needs a mapping; mapping a file without touching it faults nothing in, so the
// check does not change what it measures.
#include "cache.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

#include "error.hpp"
#include "reader.hpp"

namespace readpath {

double resident_fraction(int fd, uint64_t begin, uint64_t end) {
  if (end <= begin) return 1.0;
  const uint64_t map_off = begin / page_size() * page_size();
  const size_t len = end - map_off;
  void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(map_off));
  if (p == MAP_FAILED) throw sys_error("mmap(for mincore)");
  std::vector<unsigned char> vec((len + page_size() - 1) / page_size());
  const int ret = mincore(p, len, vec.data());
  const int err = errno;
  munmap(p, len);
  if (ret != 0) throw sys_error("mincore", err);
  size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return static_cast<double>(resident) / static_cast<double>(vec.size());
}

void make_warm(int fd, uint64_t begin, uint64_t end) {
  Buffer buf(1 << 20);
  for (uint64_t off = begin; off < end;) {
    const ssize_t n = pread(fd, buf.data(), std::min<uint64_t>(buf.size(), end - off),
                            static_cast<off_t>(off));
    if (n < 0) throw sys_error("pread");
    if (n == 0) break;
    off += static_cast<uint64_t>(n);
  }
}

void evict(int fd, uint64_t begin, uint64_t end) {
  const int err = posix_fadvise(fd, static_cast<off_t>(begin), static_cast<off_t>(end - begin),
                                POSIX_FADV_DONTNEED);
  if (err != 0) throw sys_error("posix_fadvise(POSIX_FADV_DONTNEED)", err);
}

}  // namespace readpath
