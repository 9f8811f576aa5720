// The one interface every reader implements, and the table of methods readpath_bench knows.
//
// A reader reads one region of one file, `io` bytes per request, once per pass(); the
// benchmark times passes. Everything a reader needs (buffers, rings, the random order,
// long-lived mappings) is set up in its constructor, outside any timed region.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "latency.hpp"

namespace readpath {

enum class Family { read, uring, mmap, baseline };

// How a pass delivers the file's bytes: every byte into the reader's own buffer (copy), or
// one load per page and nothing copied (touch).
enum class Delivers { copy, touch };

// Which methods a "fastest path" finding may rank together: those whose timed region does
// the same kind of work. syscall: the kernel copies into a buffer per request (read family,
// io_uring); mapping: memcpy out of a mapping that outlives the pass; fault: map, fault and
// one load per page; baseline: user-space copies without the kernel (--baseline).
enum class RanksWith { syscall, mapping, fault, baseline };

// What a reader does for a method, carried by its row: no reader tests a method's name.
// read family
enum class Call { read, pread, preadv2 };  // read: one lseek to the region start first
// mmap family: how a fresh mapping's pages come in before the loads
enum class Populate { none, map_populate, madv_populate_read };

struct Knobs {
  Call call = Call::pread;     // read family: the system call of a request
  int rwf = 0;                 // preadv2 (read family) or the SQE's rw_flags (io_uring): RWF_*
  bool random_order = false;   // read family: every io-sized block once, in a shuffled order
  bool fixed_file = false;     // io_uring: the file registered before timing
  bool fixed_buffers = false;  // io_uring: READ_FIXED into buffers registered before timing
  bool sqpoll = false;         // io_uring: a SQPOLL kernel thread submits
  int advice = -1;             // mmap family: madvise(advice) on each fresh mapping; -1: none
  std::string_view advice_name = {};  // its call as errors and setup notes name it
  Populate populate = Populate::none;
  bool spread_copies = false;  // baseline: every chunk copied to its own place
};

struct MethodInfo {
  std::string_view name;
  Family family;
  Delivers delivers;
  bool keeps_mapping;  // one mapping lives across passes, so warm passes take no page fault
  bool maps_per_pass;  // mmap and munmap are inside the timed pass
  bool uses_qd;        // io_uring queue depth applies
  bool uses_io;        // the request size matters (mmap fault methods always touch one page)
  // O_DIRECT: the file is opened with it (Target::fd), buffers, offsets and request sizes
  // are multiples of kDirectAlign, and the page cache is not in the way, so its cells are
  // cold only and nothing is evicted before their passes.
  bool direct = false;
  std::string_view summary;  // one line for --help
  std::string timed;         // exactly what the timed region of one pass contains
  std::string request;       // what one request of the latency pass is: what each latency times
  Knobs knobs = {};          // what the reader does (reader.cpp's table sets each method's)
};

// RWF_NOWAIT: a preadv2 that would block returns EAGAIN; the reader then reads with a
// blocking pread(2) and counts it (PassResult::fallbacks).
bool nowait_fallback(const MethodInfo& method);

// The alignment O_DIRECT methods keep for buffers, offsets and request sizes.
constexpr size_t kDirectAlign = 4096;

// RWF_DONTCACHE (Linux 6.14): a buffered read whose pages leave the page cache once read;
// Debian 12's headers predate it. The _dontcache methods read with it.
constexpr int kRwfDontcache = 0x80;
// What a refused RWF_DONTCACHE read (EOPNOTSUPP) means: the kernel is older than 6.14, or
// the filesystem does not offer uncached reads (FOP_DONTCACHE). Other errors as sys_error.
Error dontcache_error(const std::string& call, int err);

// Derived from the traits, here and nowhere else.
RanksWith ranks_with(const MethodInfo& method);

// Every method readpath_bench can run, in the order they are listed and registered.
const std::vector<MethodInfo>& methods();
// The method called `name`, or nullptr. Only readers: the baselines are not methods.
const MethodInfo* find_method(std::string_view name);
// The --baseline cells (memcpy, memcpy_large): described like the methods so that one
// table travels with the results, but not readers; make_reader refuses them.
const std::vector<MethodInfo>& baselines();

// The traits of `which` as a JSON array, one object per method with the keys name, family,
// uses_qd, uses_io, delivers, keeps_mapping, maps_per_pass, direct, ranks_with, timed,
// request, summary (in this order); one_per_line puts each object on its own line.
std::string methods_json(const std::vector<const MethodInfo*>& which, bool one_per_line = false);

// text as a JSON string: quoted, with quotes, backslashes and control characters escaped.
std::string json_string(std::string_view text);

// The file under test and the part of it one reader covers: [begin, end), end <= size.
struct Target {
  int fd = -1;        // opened O_RDONLY (O_RDONLY | O_DIRECT for a direct method) by the caller, who closes it
  uint64_t ino = 0;   // st_ino: the content function's seed
  uint64_t size = 0;  // file size in bytes
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct ReaderConfig {
  const MethodInfo* method = nullptr;
  size_t io = 4096;      // bytes per request
  unsigned qd = 1;       // io_uring queue depth
  int sqpoll_cpu = -1;   // CPU for the SQPOLL thread (IORING_SETUP_SQ_AFF); -1: unplaced
  // io_uring submission ring entries; 0: the queue depth. Fewer than qd makes requests wait
  // for free submission slots (the tests force a full ring with it).
  unsigned sq_entries = 0;
  uint64_t seed = 0x5EED;  // random order for pread_rand
};

struct PassResult {
  uint64_t bytes = 0;      // bytes read (a short read counts what it returned)
  uint64_t requests = 0;   // system calls / io_uring requests / pages touched
  uint64_t fallbacks = 0;  // preadv2(RWF_NOWAIT) requests that had to block (EAGAIN)
};

class Reader {
 public:
  virtual ~Reader() = default;
  // Reads every byte of the region once. With check, compares every byte read against the
  // content function and throws readpath::Error at the first difference (used untimed,
  // before timing). Throws readpath::Error when a call fails.
  virtual PassResult pass(bool check) = 0;
  // A pass like the timed ones (no check) that times each of its requests on its own
  // (MethodInfo::request says what one is) and records them in `latency`. The timed passes
  // run other code: the per-request clock compiles away there (NoRequestTiming).
  virtual PassResult latency_pass(LatencyHistogram& latency) = 0;
  // Called before the page cache is evicted: mappings the reader keeps drop their page
  // table entries so that POSIX_FADV_DONTNEED can evict the pages.
  virtual void release_mappings() {}
  // What the reader set up beyond the defaults: accepted and refused io_uring flags etc.
  virtual std::string setup_note() const { return {}; }
  // Kernel threads that work for this reader, as observed now (the io_uring SQPOLL thread:
  // the CPUs it may run on and the one it last ran on); empty when there are none.
  virtual std::string helpers_observed() const { return {}; }
};

// Builds the reader for config.method over target. Throws readpath::Error (with the
// failing call) when the kernel refuses something the method needs.
std::unique_ptr<Reader> make_reader(const ReaderConfig& config, const Target& target);

// Constructors of each family, defined in read_reader.cpp, uring_reader.cpp, mmap_reader.cpp.
std::unique_ptr<Reader> make_read_reader(const ReaderConfig& config, const Target& target);
std::unique_ptr<Reader> make_uring_reader(const ReaderConfig& config, const Target& target);
std::unique_ptr<Reader> make_mmap_reader(const ReaderConfig& config, const Target& target);

// Page-aligned anonymous memory for I/O buffers, bound to the NUMA node of the calling
// thread's CPUs when the machine has several nodes, and faulted in before use.
class Buffer {
 public:
  explicit Buffer(size_t bytes);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

size_t page_size();

}  // namespace readpath
