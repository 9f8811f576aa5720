// The mmap family. mmap_copy copies out of one long-lived mapping (made in the
// constructor): its timed region is the memcpy calls and any faults they take. The
// others measure the mapping and its faults: each pass maps the region afresh, applies
// the advice (or MAP_POPULATE / MADV_POPULATE_READ), loads one byte per page and unmaps;
// all of that is inside the timed region. The latency pass times each memcpy (mmap_copy),
// each page's load, or, where the pages are populated, the one call that populates them.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "content.hpp"
#include "error.hpp"
#include "reader.hpp"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14; older glibc headers lack it
#endif

namespace readpath {
namespace {

// A mapping of [begin, end) of the file; the mapping starts at the page holding begin.
class Mapping {
 public:
  Mapping(const Target& t, int extra_flags) {
    map_off_ = t.begin / page_size() * page_size();
    len_ = t.end - map_off_;
    if (len_ == 0) return;
    void* p = mmap(nullptr, len_, PROT_READ, MAP_SHARED | extra_flags, t.fd,
                   static_cast<off_t>(map_off_));
    if (p == MAP_FAILED) throw sys_error(extra_flags & MAP_POPULATE ? "mmap(MAP_POPULATE)" : "mmap");
    base_ = static_cast<const unsigned char*>(p);
  }
  ~Mapping() {
    if (base_ != nullptr) munmap(const_cast<unsigned char*>(base_), len_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // Address of file offset off.
  const unsigned char* at(uint64_t off) const { return base_ + (off - map_off_); }
  void* start() const { return const_cast<unsigned char*>(base_); }
  size_t length() const { return len_; }

 private:
  const unsigned char* base_ = nullptr;
  uint64_t map_off_ = 0;
  size_t len_ = 0;
};

// The kernel zero-fills a mapping's last page past end of file; check that too.
void check_tail_zero(const Mapping& m, const Target& t) {
  if (t.end != t.size || t.size % page_size() == 0 || m.length() == 0) return;
  const uint64_t page_end = (t.size / page_size() + 1) * page_size();
  for (uint64_t off = t.size; off < page_end; ++off)
    if (*m.at(off) != 0)
      throw Error("mmap: byte at offset " + std::to_string(off) +
                  " past end of file is not zero");
}

class MmapCopyReader final : public Reader {
 public:
  MmapCopyReader(const ReaderConfig& config, const Target& target)
      : io_(config.io), t_(target), map_(target, 0), buffer_(config.io) {}

  PassResult pass(bool check) override { return run(check, NoRequestTiming{}); }
  PassResult latency_pass(LatencyHistogram& latency) override { return run(false, RequestTiming(latency)); }

  void release_mappings() override {
    if (map_.length() > 0 && madvise(map_.start(), map_.length(), MADV_DONTNEED) != 0)
      throw sys_error("madvise(MADV_DONTNEED)");
  }

 private:
  template <class Timing>
  PassResult run(bool check, Timing timing) {
    PassResult r;
    for (uint64_t off = t_.begin; off < t_.end; off += io_) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(io_, t_.end - off));
      const uint64_t started = timing.now();
      std::memcpy(buffer_.data(), map_.at(off), n);
      // Keep the copy: the compiler must not drop a memcpy into a buffer nobody reads.
      asm volatile("" : : "r"(buffer_.data()) : "memory");
      timing.record(started, timing.now());
      if (check) content_check(t_.ino, off, buffer_.data(), n);
      r.bytes += n;
      ++r.requests;
    }
    if (check) check_tail_zero(map_, t_);
    return r;
  }

  size_t io_;
  Target t_;
  Mapping map_;
  Buffer buffer_;
};

class MmapFaultReader final : public Reader {
 public:
  MmapFaultReader(const ReaderConfig& config, const Target& target)
      : k_(config.method->knobs), t_(target) {}

  PassResult pass(bool check) override { return run(check, NoRequestTiming{}); }
  PassResult latency_pass(LatencyHistogram& latency) override { return run(false, RequestTiming(latency)); }

  std::string setup_note() const override {
    if (k_.advice >= 0) return std::string(k_.advice_name);
    if (k_.populate == Populate::map_populate) return "MAP_POPULATE";
    if (k_.populate == Populate::madv_populate_read) return "madvise(MADV_POPULATE_READ)";
    return {};
  }

 private:
  // A request (the latency pass) is a page's load, or the call that populates every page.
  template <class Timing>
  PassResult run(bool check, Timing timing) {
    PassResult r;
    const uint64_t mapping = timing.now();
    const bool populate = k_.populate == Populate::map_populate;
    const bool populate_read = k_.populate == Populate::madv_populate_read;
    Mapping map(t_, populate ? MAP_POPULATE : 0);
    if (map.length() == 0) return r;
    if (populate) timing.record(mapping, timing.now());
    if (k_.advice >= 0 && madvise(map.start(), map.length(), k_.advice) != 0)
      throw sys_error(std::string(k_.advice_name));
    const uint64_t populating = populate_read ? timing.now() : 0;
    if (populate_read && madvise(map.start(), map.length(), MADV_POPULATE_READ) != 0)
      throw sys_error("madvise(MADV_POPULATE_READ)");
    if (populate_read) timing.record(populating, timing.now());
    const bool per_page = k_.populate == Populate::none;
    const uint64_t first_page = t_.begin / page_size() * page_size();
    unsigned sum = 0;
    for (uint64_t off = first_page; off < t_.end; off += page_size()) {
      const uint64_t loading = per_page ? timing.now() : 0;
      sum += *static_cast<const volatile unsigned char*>(map.at(std::max(off, t_.begin)));
      if (per_page) timing.record(loading, timing.now());
      ++r.requests;
    }
    asm volatile("" : : "r"(sum));
    r.bytes = t_.end - t_.begin;
    if (check) {
      content_check(t_.ino, t_.begin, map.at(t_.begin), t_.end - t_.begin);
      check_tail_zero(map, t_);
    }
    return r;
  }

  Knobs k_;
  Target t_;
};

}  // namespace

std::unique_ptr<Reader> make_mmap_reader(const ReaderConfig& config, const Target& target) {
  if (config.method->keeps_mapping) return std::make_unique<MmapCopyReader>(config, target);
  return std::make_unique<MmapFaultReader>(config, target);
}

}  // namespace readpath
