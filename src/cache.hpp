// Page-cache state of a file region: measured with mincore, made warm by reading, made
// cold with POSIX_FADV_DONTNEED; and a benchmark cell's state, made by its threads together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cell_sync.hpp"
#include "reader.hpp"

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

// What the page cache holds of a whole file: its pages there and, where the kernel has the
// cachestat syscall (6.5 and later), the pages evicted from it whose shadow entries remain
// (recently: within the working set's refault distance). Without cachestat, mincore counts
// the cached pages alone (through a mapping, which myfs counts as an mmap call).
struct CacheState {
  uint64_t cached = 0;
  std::optional<uint64_t> evicted, recently_evicted;
};
CacheState cache_state(int fd, uint64_t size);
// "cachestat" or "mincore": what cache_state uses on this kernel (asked once).
std::string cache_state_source();

// A benchmark cell's cache state, warm or cold, made for the whole file by the cell's
// threads together. Each thread has one, over its own region of the file; thread 0 also
// checks the whole file. Every step meets the other threads at `sync`'s meeting points and
// keeps a failure there for all (CellSync::attempt), so that every thread reaches every
// meeting point whatever failed, its own setup included.
//
// With direct (an O_DIRECT method, cold by definition) the page cache is not in the readers'
// way: no state is made, nothing is evicted or checked, and every step only meets as above.
class CellCache {
 public:
  CellCache(CellSync& sync, unsigned index, unsigned threads, bool warm, std::string fstype, bool direct = false);
  // The thread's region of the open file, for the residency checks. Cold with one thread,
  // it evicts the region at once (check_evictable) and throws where that cannot work; with
  // several, a neighbour's readahead can refill the region meanwhile and make() decides.
  void watch(const Target& region);
  // Makes the state. Warm: every thread reads its region unless it is resident (so that, on
  // a NUMA machine, its pages come from its node), then thread 0 confirms the whole file.
  // Cold: every thread calls release_mappings (mapped pages cannot be evicted), then thread 0
  // evicts the whole file and confirms it while none reads (readahead of one thread reaches
  // into its neighbour's region).
  void make(const std::function<void()>& release_mappings);
  // Before each pass like the timed ones (the latency pass too), outside its clock: cold
  // cells evict again (make); warm cells have nothing to do. A failure is kept for all.
  void prepare_pass(const std::function<void()>& release_mappings);
  // prepare_pass before each timed pass, then throws the cell's failure.
  void renew(const std::function<void()>& release_mappings);
  // After the timed passes: throws when pages of a warm region left the page cache
  // meanwhile, so that the timings are not all warm.
  void check_still_warm();

 private:
  CellSync& sync_;
  unsigned index_, threads_;
  bool warm_;
  bool direct_;
  std::string fstype_;
  Target region_;
  std::unique_ptr<ResidencyProbe> region_residency_;
  std::unique_ptr<ResidencyProbe> file_residency_;  // thread 0 only: it sets the state
};

}  // namespace readpath
