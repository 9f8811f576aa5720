// The method table, the reader factory and I/O buffers.
#include "reader.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "error.hpp"
#include "placement.hpp"

namespace readpath {

const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> table = {
      {"read", Family::read, false, true, "read(2) sequentially from the region start"},
      {"pread", Family::read, false, true, "pread(2) sequentially"},
      {"pread_rand", Family::read, false, true, "pread(2) of every block once, random order (fixed seed)"},
      {"preadv2_nowait", Family::read, false, true, "preadv2(RWF_NOWAIT); EAGAIN falls back to pread"},
      {"preadv2_hipri", Family::read, false, true, "preadv2(RWF_HIPRI)"},
      {"uring", Family::uring, true, true, "io_uring IORING_OP_READ, qd requests in flight"},
      {"uring_regfile", Family::uring, true, true, "io_uring IORING_OP_READ on a registered file"},
      {"uring_fixed", Family::uring, true, true, "io_uring READ_FIXED: registered buffers and file"},
      {"uring_sqpoll", Family::uring, true, true, "io_uring, SQPOLL thread (on a CPU near the reader with --placement), registered file"},
      {"mmap_copy", Family::mmap, false, true, "memcpy out of a long-lived mapping"},
      {"mmap_touch", Family::mmap, false, false, "fresh mapping per pass, one load per page"},
      {"mmap_touch_seq", Family::mmap, false, false, "mmap_touch after MADV_SEQUENTIAL"},
      {"mmap_touch_rand", Family::mmap, false, false, "mmap_touch after MADV_RANDOM"},
      {"mmap_touch_willneed", Family::mmap, false, false, "mmap_touch after MADV_WILLNEED"},
      {"mmap_touch_huge", Family::mmap, false, false, "mmap_touch after MADV_HUGEPAGE"},
      {"mmap_populate", Family::mmap, false, false, "fresh MAP_POPULATE mapping per pass, one load per page"},
      {"mmap_populate_read", Family::mmap, false, false, "fresh mapping, MADV_POPULATE_READ, one load per page"},
  };
  return table;
}

const MethodInfo* find_method(std::string_view name) {
  for (const auto& m : methods())
    if (m.name == name) return &m;
  return nullptr;
}

std::unique_ptr<Reader> make_reader(const ReaderConfig& config, const Target& target) {
  if (config.method == nullptr) throw Error("make_reader: no method given");
  if (config.io == 0) throw Error("make_reader: io size must be positive");
  if (target.begin > target.end || target.end > target.size)
    throw Error("make_reader: region lies outside the file");
  switch (config.method->family) {
    case Family::read: return make_read_reader(config, target);
    case Family::uring: return make_uring_reader(config, target);
    case Family::mmap: return make_mmap_reader(config, target);
  }
  throw Error("make_reader: unknown method family");
}

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

Buffer::Buffer(size_t bytes) : size_((bytes + page_size() - 1) / page_size() * page_size()) {
  if (size_ == 0) size_ = page_size();
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw sys_error("mmap(buffer of " + std::to_string(size_) + " bytes)");
  data_ = static_cast<unsigned char*>(p);
  bind_memory_to_current_node(data_, size_);
  std::memset(data_, 0, size_);  // fault it in now, not in a timed region
}

Buffer::~Buffer() { munmap(data_, size_); }

}  // namespace readpath
