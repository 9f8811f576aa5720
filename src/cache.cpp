// mincore needs a mapping; mapping a file without touching it faults nothing in, so the
// check does not change what it measures.
#include "cache.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <cmath>
#include <cstdio>
#include <utility>

#include "error.hpp"
#include "reader.hpp"

namespace readpath {
namespace {

// cachestat(2) (Linux 6.5); Debian 12's headers and glibc predate it.
constexpr long kSysCachestat = 451;
struct CachestatRange {
  uint64_t off, len;
};
struct Cachestat {
  uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

// True when the kernel has cachestat: an invalid descriptor fails with EBADF, not ENOSYS.
bool have_cachestat() {
  static const bool have = [] {
    CachestatRange range{0, 0};
    Cachestat cs{};
    return syscall(kSysCachestat, -1, &range, &cs, 0) != 0 && errno == EBADF;
  }();
  return have;
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100);
  return buf;
}

}  // namespace

ResidencyProbe::ResidencyProbe(int fd, uint64_t begin, uint64_t end) {
  if (end <= begin) return;
  const uint64_t map_off = begin / page_size() * page_size();
  len_ = end - map_off;
  // Never touched, so the mapping faults nothing in and pins nothing.
  map_ = mmap(nullptr, len_, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(map_off));
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw sys_error("mmap(for mincore)");
  }
  vec_.resize((len_ + page_size() - 1) / page_size());
}

ResidencyProbe::~ResidencyProbe() {
  if (map_ != nullptr) munmap(map_, len_);
}

double ResidencyProbe::fraction() {
  if (map_ == nullptr) return 1.0;
  if (mincore(map_, len_, vec_.data()) != 0) throw sys_error("mincore");
  size_t resident = 0;
  for (unsigned char v : vec_) resident += v & 1;
  return static_cast<double>(resident) / static_cast<double>(vec_.size());
}

double resident_fraction(int fd, uint64_t begin, uint64_t end) {
  return ResidencyProbe(fd, begin, end).fraction();
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

uint64_t missing_pages(double resident, uint64_t begin, uint64_t end) {
  const double pages = static_cast<double>((end - begin + page_size() - 1) / page_size());
  return static_cast<uint64_t>(std::llround((1.0 - resident) * pages));
}

void make_cold_confirmed(int fd, uint64_t size, ResidencyProbe& probe, const std::string& fstype) {
  evict(fd, 0, size);
  const double resident = probe.fraction();
  if (resident > 0.0)
    throw Error("cold: POSIX_FADV_DONTNEED left " + percent(resident) + " of the file in the page cache on " + fstype);
}

void make_warm_confirmed(int fd, uint64_t size, ResidencyProbe& probe) {
  double resident = probe.fraction();
  for (int attempt = 0; resident < 1.0 && attempt < 3; ++attempt) {
    make_warm(fd, 0, size);
    resident = probe.fraction();
  }
  if (resident < 1.0)
    throw Error("warm: " + std::to_string(missing_pages(resident, 0, size)) +
                " pages keep leaving the page cache (reclaim: memory pressure or DAMON)");
}

void check_evictable(int fd, uint64_t begin, uint64_t end, ResidencyProbe& probe, const std::string& fstype) {
  evict(fd, begin, end);
  if (end > begin && probe.fraction() == 1.0) throw Error("cold: POSIX_FADV_DONTNEED cannot evict on " + fstype);
}

CellCache::CellCache(CellSync& sync, unsigned index, unsigned threads, bool warm, std::string fstype, bool direct)
    : sync_(sync), index_(index), threads_(threads), warm_(warm && !direct), direct_(direct),
      fstype_(std::move(fstype)) {}

void CellCache::watch(const Target& region) {
  region_ = region;
  if (direct_) return;
  region_residency_ = std::make_unique<ResidencyProbe>(region.fd, region.begin, region.end);
  if (index_ == 0) file_residency_ = std::make_unique<ResidencyProbe>(region.fd, 0, region.size);
  if (!warm_ && threads_ == 1) check_evictable(region.fd, region.begin, region.end, *region_residency_, fstype_);
}

void CellCache::make(const std::function<void()>& release_mappings) {
  if (direct_) {
  } else if (warm_) {
    sync_.attempt([&] {
      if (region_residency_->fraction() < 1.0) make_warm(region_.fd, region_.begin, region_.end);
    });
    sync_.wait();
    if (index_ == 0) sync_.attempt([&] { make_warm_confirmed(region_.fd, region_.size, *file_residency_); });
  } else {
    sync_.attempt(release_mappings);
    sync_.wait();
    if (index_ == 0)
      sync_.attempt([&] { make_cold_confirmed(region_.fd, region_.size, *file_residency_, fstype_); });
  }
  sync_.wait();
}

void CellCache::prepare_pass(const std::function<void()>& release_mappings) {
  if (!warm_ && !direct_) make(release_mappings);
}

void CellCache::renew(const std::function<void()>& release_mappings) {
  prepare_pass(release_mappings);
  sync_.throw_if_failed();
}

void CellCache::check_still_warm() {
  if (!warm_) return;
  const double resident = region_residency_->fraction();
  if (resident < 1.0)
    throw Error("warm: " + std::to_string(missing_pages(resident, region_.begin, region_.end)) +
                " pages left the page cache during the run (reclaim: memory pressure or DAMON); "
                "the timings are not all warm");
}

std::string cache_state_source() { return have_cachestat() ? "cachestat" : "mincore"; }

CacheState cache_state(int fd, uint64_t size) {
  CacheState state;
  if (have_cachestat()) {
    CachestatRange range{0, 0};  // len 0: to the end of the file
    Cachestat cs{};
    if (syscall(kSysCachestat, fd, &range, &cs, 0) != 0) throw sys_error("cachestat");
    state.cached = cs.nr_cache;
    state.evicted = cs.nr_evicted;
    state.recently_evicted = cs.nr_recently_evicted;
    return state;
  }
  const uint64_t pages = (size + page_size() - 1) / page_size();
  state.cached = pages - missing_pages(resident_fraction(fd, 0, size), 0, size);
  return state;
}

}  // namespace readpath
