// The method table, the reader factory and I/O buffers.
#include "reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "error.hpp"
#include "placement.hpp"

namespace readpath {
namespace {

// A row with what its reader does.
MethodInfo with(MethodInfo m, Knobs knobs) {
  m.knobs = knobs;
  return m;
}

// madvise(advice) before the loads, named as the call.
Knobs advised(int advice, std::string_view call) { return {.advice = advice, .advice_name = call}; }

// Readable rows: the traits shared by a family of methods, then each method's own.
MethodInfo syscall_copy(std::string_view name, Family family, std::string_view summary, std::string timed,
                        std::string request) {
  return {.name = name, .family = family, .delivers = Delivers::copy, .keeps_mapping = false,
          .maps_per_pass = false, .uses_qd = family == Family::uring, .uses_io = true,
          .summary = summary, .timed = std::move(timed), .request = std::move(request)};
}

// A method reading with O_DIRECT: every request goes to the device, none to the page cache.
MethodInfo direct_reads(std::string_view name, Family family, std::string_view summary, std::string timed,
                        std::string request) {
  MethodInfo m = syscall_copy(name, family, summary, std::move(timed), std::move(request));
  m.direct = true;
  return m;
}

// A read(2)-family method whose timed region is `call` per request, each copying into one
// reused buffer, and `more`; a request is one `call` and `request_more`.
MethodInfo read_call(std::string_view name, std::string_view summary, std::string_view call,
                     std::string_view more = "", std::string_view request_more = "") {
  return syscall_copy(name, Family::read, summary,
                      std::string(call) + " calls copying each request into one reused buffer" + std::string(more),
                      "one " + std::string(call) + " call" + std::string(request_more));
}

// One io_uring request as the latency pass times it: its SQE is stamped just before the
// io_uring_submit_and_wait call that `submits` it, its CQE when it is reaped.
std::string uring_request(std::string_view op, std::string_view submits = "submits it") {
  return "one " + std::string(op) + ", from just before the io_uring_submit_and_wait call that " +
         std::string(submits) + " to the reaping of its completion (at queue depth qd, the completions "
         "reaped together share one stamp)";
}

// An io_uring method with plain reads into a buffer each; `setup` is what was set up before timing.
MethodInfo uring_reads(std::string_view name, std::string_view summary, std::string_view setup) {
  return syscall_copy(name, Family::uring, summary,
                      "io_uring submissions, waits and completions of qd reads in flight, each into its own "
                      "buffer" + std::string(setup),
                      uring_request("IORING_OP_READ"));
}

// One page touched of a fresh mapping; the populating methods say what their request is.
constexpr std::string_view kPageLoad =
    "one load from one page, with the page fault it takes when the page is not mapped yet (fault-around "
    "maps some pages without one); mmap, madvise and munmap are in no request";

MethodInfo page_touch(std::string_view name, std::string_view summary, std::string timed,
                      std::string_view request = kPageLoad) {
  return {.name = name, .family = Family::mmap, .delivers = Delivers::touch, .keeps_mapping = false,
          .maps_per_pass = true, .uses_qd = false, .uses_io = false, .summary = summary, .timed = std::move(timed),
          .request = std::string(request)};
}

MethodInfo baseline_copy(std::string_view name, std::string_view summary, std::string timed) {
  return {.name = name, .family = Family::baseline, .delivers = Delivers::copy, .keeps_mapping = false,
          .maps_per_pass = false, .uses_qd = false, .uses_io = true, .summary = summary, .timed = std::move(timed),
          .request = "none: baselines have no latency pass"};
}

std::string_view family_name(Family family) {
  switch (family) {
    case Family::read: return "read";
    case Family::uring: return "uring";
    case Family::mmap: return "mmap";
    case Family::baseline: return "baseline";
  }
  return "unknown";
}

std::string_view ranks_with_name(RanksWith group) {
  switch (group) {
    case RanksWith::syscall: return "syscall";
    case RanksWith::mapping: return "mapping";
    case RanksWith::fault: return "fault";
    case RanksWith::baseline: return "baseline";
  }
  return "unknown";
}

std::string method_json(const MethodInfo& m) {
  std::string out = "{";
  auto key = [&](std::string_view name) {
    if (out.size() > 1) out += ',';
    out += json_string(name);
    out += ':';
  };
  auto text = [&](std::string_view name, std::string_view value) {
    key(name);
    out += json_string(value);
  };
  auto flag = [&](std::string_view name, bool value) {
    key(name);
    out += value ? "true" : "false";
  };
  text("name", m.name);
  text("family", family_name(m.family));
  flag("uses_qd", m.uses_qd);
  flag("uses_io", m.uses_io);
  text("delivers", m.delivers == Delivers::copy ? "copy" : "touch");
  flag("keeps_mapping", m.keeps_mapping);
  flag("maps_per_pass", m.maps_per_pass);
  flag("direct", m.direct);
  text("ranks_with", ranks_with_name(ranks_with(m)));
  text("timed", m.timed);
  text("request", m.request);
  text("summary", m.summary);
  return out + "}";
}

}  // namespace

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + '"';
}

Error dontcache_error(const std::string& call, int err) {
  if (err != EOPNOTSUPP) return sys_error(call, err);
  return Error(call + ": " + std::strerror(err) + ": uncached buffered reads (RWF_DONTCACHE) need Linux 6.14 "
                   "or later and a filesystem that offers them",
               err);
}

bool nowait_fallback(const MethodInfo& method) {
  return method.family == Family::read && method.knobs.call == Call::preadv2 && (method.knobs.rwf & RWF_NOWAIT);
}

RanksWith ranks_with(const MethodInfo& method) {
  if (method.family == Family::baseline) return RanksWith::baseline;
  if (method.delivers == Delivers::touch) return RanksWith::fault;
  return method.keeps_mapping ? RanksWith::mapping : RanksWith::syscall;
}

const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> table = {
      with(read_call("read", "read(2) sequentially from the region start", "read(2)",
                     ", after one lseek to the region start"),
           {.call = Call::read}),
      read_call("pread", "pread(2) sequentially", "pread(2)"),
      with(syscall_copy("pread_rand", Family::read, "pread(2) of every block once, random order (fixed seed)",
                        "pread(2) calls copying every io-sized block once, in an order shuffled before timing, "
                        "into one reused buffer",
                        "one pread(2) call"),
           {.random_order = true}),
      with(read_call("preadv2_nowait", "preadv2(RWF_NOWAIT); EAGAIN falls back to pread", "preadv2(RWF_NOWAIT)",
                     ", and a blocking pread(2) for each that returns EAGAIN",
                     ", with the blocking pread(2) after it when it returns EAGAIN"),
           {.call = Call::preadv2, .rwf = RWF_NOWAIT}),
      with(read_call("preadv2_hipri", "preadv2(RWF_HIPRI)", "preadv2(RWF_HIPRI)"),
           {.call = Call::preadv2, .rwf = RWF_HIPRI}),
      with(read_call("pread_dontcache", "preadv2(RWF_DONTCACHE): buffered, pages dropped once read (6.14+)",
                     "preadv2(RWF_DONTCACHE)",
                     "; pages it brought into the page cache leave it when the read completes, pages found "
                     "there stay"),
           {.call = Call::preadv2, .rwf = kRwfDontcache}),
      direct_reads("pread_direct", Family::read, "pread(2) with O_DIRECT: from the device, page cache bypassed",
                   "pread(2) calls on a file opened O_DIRECT, each request read by the device into one reused "
                   "4096-aligned buffer (no page cache)",
                   "one pread(2) call on the O_DIRECT file: the device's read of it, waited for"),
      uring_reads("uring", "io_uring IORING_OP_READ, qd requests in flight", "; the ring is set up before timing"),
      with(uring_reads("uring_regfile", "io_uring IORING_OP_READ on a registered file",
                       ", on a file registered before timing"),
           {.fixed_file = true}),
      with(uring_reads("uring_dontcache", "io_uring IORING_OP_READ with RWF_DONTCACHE (6.14+)",
                       ", with RWF_DONTCACHE (pages it brought into the page cache leave it when the read "
                       "completes); the ring is set up before timing"),
           {.rwf = kRwfDontcache}),
      with(syscall_copy("uring_fixed", Family::uring, "io_uring READ_FIXED: registered buffers and file",
                        "io_uring submissions, waits and completions of qd READ_FIXED requests in flight, into "
                        "buffers and from a file registered before timing",
                        uring_request("IORING_OP_READ_FIXED")),
           {.fixed_file = true, .fixed_buffers = true}),
      direct_reads("uring_direct", Family::uring, "io_uring IORING_OP_READ with O_DIRECT, qd requests in flight",
                   "io_uring submissions, waits and completions of qd reads in flight on a file opened O_DIRECT, "
                   "each read by the device into its own 4096-aligned buffer (no page cache); the ring is set up "
                   "before timing",
                   uring_request("IORING_OP_READ") + "; O_DIRECT: the device's read of it"),
      with(syscall_copy("uring_sqpoll", Family::uring,
                        "io_uring, SQPOLL thread (on a CPU near the reader with --placement), registered file",
                        "filling SQEs and waiting for and reaping the completions of qd reads in flight, each "
                        "into its own buffer, while the SQPOLL kernel thread (started before timing) submits them",
                        uring_request("IORING_OP_READ", "makes its SQE visible to the SQPOLL thread")),
           {.fixed_file = true, .sqpoll = true}),
      {.name = "mmap_copy", .family = Family::mmap, .delivers = Delivers::copy, .keeps_mapping = true,
       .maps_per_pass = false, .uses_qd = false, .uses_io = true, .summary = "memcpy out of a long-lived mapping",
       .timed = "memcpy out of a mapping made before timing; its pages are mapped by the untimed pass "
                "before the timed ones in warm cells, faulted in cold ones",
       .request = "one memcpy of io bytes out of the mapping, with the page faults it takes"},
      page_touch("mmap_touch", "fresh mapping per pass, one load per page",
                 "mmap, one load per page (page faults), munmap"),
      with(page_touch("mmap_touch_seq", "mmap_touch after MADV_SEQUENTIAL",
                      "mmap, madvise(MADV_SEQUENTIAL), one load per page (page faults), munmap"),
           advised(MADV_SEQUENTIAL, "madvise(MADV_SEQUENTIAL)")),
      with(page_touch("mmap_touch_rand", "mmap_touch after MADV_RANDOM",
                      "mmap, madvise(MADV_RANDOM), one load per page (page faults), munmap"),
           advised(MADV_RANDOM, "madvise(MADV_RANDOM)")),
      with(page_touch("mmap_touch_willneed", "mmap_touch after MADV_WILLNEED",
                      "mmap, madvise(MADV_WILLNEED), one load per page (page faults), munmap"),
           advised(MADV_WILLNEED, "madvise(MADV_WILLNEED)")),
      with(page_touch("mmap_touch_huge", "mmap_touch after MADV_HUGEPAGE",
                      "mmap, madvise(MADV_HUGEPAGE), one load per page (page faults), munmap"),
           advised(MADV_HUGEPAGE, "madvise(MADV_HUGEPAGE)")),
      // Populating methods fault the region in with one call; the loads after it find every
      // page mapped and would time only the clock. Their request is that call.
      with(page_touch("mmap_populate", "fresh MAP_POPULATE mapping per pass, one load per page",
                      "mmap(MAP_POPULATE), which faults every page in, one load per page, munmap",
                      "the mmap(MAP_POPULATE) call that faults the thread's whole region in: one request per "
                      "pass and thread; the loads after it and munmap are in no request"),
           {.populate = Populate::map_populate}),
      with(page_touch("mmap_populate_read", "fresh mapping, MADV_POPULATE_READ, one load per page",
                      "mmap, madvise(MADV_POPULATE_READ), which faults every page in, one load per page, munmap",
                      "the madvise(MADV_POPULATE_READ) call that faults the thread's whole region in: one "
                      "request per pass and thread; mmap, the loads after it and munmap are in no request"),
           {.populate = Populate::madv_populate_read}),
  };
  return table;
}

const MethodInfo* find_method(std::string_view name) {
  for (const auto& m : methods())
    if (m.name == name) return &m;
  return nullptr;
}

const std::vector<MethodInfo>& baselines() {
  static const std::vector<MethodInfo> table = {
      baseline_copy("memcpy", "read(2)'s copies without the kernel, into one reused buffer",
                    "memcpy calls of io bytes each from anonymous memory into one reused buffer"),
      with(baseline_copy("memcpy_large", "memory-to-memory copy bandwidth, each chunk to its own place",
                         "memcpy calls of io bytes each from anonymous memory, every chunk to its own place in a "
                         "second file-sized buffer"),
           {.spread_copies = true}),
  };
  return table;
}

std::string methods_json(const std::vector<const MethodInfo*>& which, bool one_per_line) {
  const char* separator = one_per_line ? ",\n" : ",";
  std::string out = one_per_line ? "[\n" : "[";
  for (size_t i = 0; i < which.size(); ++i) out += (i ? separator : "") + method_json(*which[i]);
  return out + (one_per_line && !which.empty() ? "\n]" : "]");
}

std::unique_ptr<Reader> make_reader(const ReaderConfig& config, const Target& target) {
  if (config.method == nullptr) throw Error("make_reader: no method given");
  if (config.io == 0) throw Error("make_reader: io size must be positive");
  if (target.begin > target.end || target.end > target.size)
    throw Error("make_reader: region lies outside the file");
  if (config.method->direct) {
    const std::string name(config.method->name);
    if (config.io % kDirectAlign != 0 || target.begin % kDirectAlign != 0)
      throw Error(name + ": O_DIRECT needs io sizes and offsets that are multiples of " +
                  std::to_string(kDirectAlign) + " (io " + std::to_string(config.io) + ", region start " +
                  std::to_string(target.begin) + ")");
    const int flags = fcntl(target.fd, F_GETFL);
    if (flags < 0) throw sys_error("fcntl(F_GETFL)");
    if (!(flags & O_DIRECT)) throw Error(name + ": the file is not open with O_DIRECT");
  }
  switch (config.method->family) {
    case Family::read: return make_read_reader(config, target);
    case Family::uring: return make_uring_reader(config, target);
    case Family::mmap: return make_mmap_reader(config, target);
    case Family::baseline:
      throw Error("make_reader: " + std::string(config.method->name) + " is a baseline, not a reader");
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
