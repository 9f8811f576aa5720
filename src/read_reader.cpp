// The read(2) family: read, pread (sequential or random order), preadv2 with flags
// (RWF_NOWAIT, RWF_HIPRI, RWF_DONTCACHE), and pread on an O_DIRECT file.
//
// Timed region (pass): the system calls only; the buffer, the random order and the
// file position are prepared in the constructor or before the loop. The latency pass times
// each request: one call (preadv2_nowait: with its fallback pread).
//
// O_DIRECT (pread_direct): every request starts at a multiple of kDirectAlign and asks for
// a multiple of it; the last one of a file that ends off that grain asks for the whole
// block and gets the file's rest (a short read at end of file).
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <utility>
#include <random>

#include "content.hpp"
#include "error.hpp"
#include "reader.hpp"

namespace readpath {
namespace {

// The call as errors name it: preadv2(RWF_NOWAIT), read, pread.
std::string call_name(const Knobs& k) {
  switch (k.call) {
    case Call::read: return "read";
    case Call::pread: return "pread";
    case Call::preadv2: break;
  }
  std::string flags;
  for (const auto& [bit, name] : {std::pair<int, const char*>{RWF_NOWAIT, "RWF_NOWAIT"}, {RWF_HIPRI, "RWF_HIPRI"},
                                  {kRwfDontcache, "RWF_DONTCACHE"}})
    if (k.rwf & bit) flags.append(flags.empty() ? "" : "|").append(name);
  return "preadv2(" + flags + ")";
}

class ReadReader final : public Reader {
 public:
  ReadReader(const ReaderConfig& config, const Target& target)
      : k_(config.method->knobs), call_(call_name(k_)), direct_(config.method->direct), io_(config.io),
        t_(target), buffer_(config.io) {
    if (k_.random_order) {
      const uint64_t blocks = (t_.end - t_.begin + io_ - 1) / io_;
      order_.resize(blocks);
      std::iota(order_.begin(), order_.end(), uint64_t{0});
      std::shuffle(order_.begin(), order_.end(), std::mt19937_64(config.seed));
    }
  }

  PassResult pass(bool check) override { return run(check, NoRequestTiming{}); }
  PassResult latency_pass(LatencyHistogram& latency) override { return run(false, RequestTiming(latency)); }

 private:
  template <class Timing>
  PassResult run(bool check, Timing timing) {
    PassResult r;
    if (k_.call == Call::read && lseek(t_.fd, static_cast<off_t>(t_.begin), SEEK_SET) < 0)
      throw sys_error("lseek");
    if (k_.random_order) {
      for (uint64_t block : order_) {
        const uint64_t off = t_.begin + block * io_;
        read_span(off, std::min<uint64_t>(io_, t_.end - off), check, r, timing);
      }
    } else {
      read_span(t_.begin, t_.end - t_.begin, check, r, timing);
    }
    return r;
  }

  // Reads [off, off + len) in requests of at most io_ bytes; a short read is counted and
  // the next request continues where it stopped.
  template <class Timing>
  void read_span(uint64_t off, uint64_t len, bool check, PassResult& r, Timing timing) {
    unsigned char* buf = buffer_.data();
    while (len > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(io_, len));
      // O_DIRECT asks for whole blocks (io_ is a multiple of the grain, so this fits).
      const size_t ask = direct_ ? (want + kDirectAlign - 1) / kDirectAlign * kDirectAlign : want;
      const uint64_t sent = timing.now();
      ssize_t n = read_once(buf, ask, off, r);
      timing.record(sent, timing.now());
      if (n == 0) throw Error("read: unexpected end of file at offset " + std::to_string(off));
      n = std::min<ssize_t>(n, static_cast<ssize_t>(want));  // the block's rest is past the region
      if (direct_ && static_cast<size_t>(n) < want && n % kDirectAlign != 0)
        throw Error("pread(O_DIRECT): a short read of " + std::to_string(n) + " bytes at offset " +
                    std::to_string(off) + " leaves the next request unaligned");
      if (check) content_check(t_.ino, off, buf, static_cast<size_t>(n));
      r.bytes += static_cast<uint64_t>(n);
      ++r.requests;
      off += static_cast<uint64_t>(n);
      len -= static_cast<uint64_t>(n);
    }
  }

  ssize_t read_once(unsigned char* buf, size_t want, uint64_t off, PassResult& r) {
    const auto pos = static_cast<off_t>(off);
    iovec iov{buf, want};
    switch (k_.call) {
      case Call::read:
        return checked(::read(t_.fd, buf, want), "read");
      case Call::pread:
        return checked(::pread(t_.fd, buf, want, pos), "pread");
      case Call::preadv2:
        break;
    }
    if (const ssize_t n = ::preadv2(t_.fd, &iov, 1, pos, k_.rwf); n >= 0) return n;
    if (errno == EAGAIN && (k_.rwf & RWF_NOWAIT)) {
      ++r.fallbacks;  // not in the page cache: the blocking read is part of the cost
      return checked(::pread(t_.fd, buf, want, pos), "pread");
    }
    if (k_.rwf & kRwfDontcache) throw dontcache_error(call_, errno);
    throw sys_error(call_);
  }

  static ssize_t checked(ssize_t n, const char* call) {
    if (n < 0) throw sys_error(call);
    return n;
  }

  Knobs k_;
  std::string call_;
  bool direct_;
  size_t io_;
  Target t_;
  Buffer buffer_;
  std::vector<uint64_t> order_;
};

}  // namespace

std::unique_ptr<Reader> make_read_reader(const ReaderConfig& config, const Target& target) {
  return std::make_unique<ReadReader>(config, target);
}

}  // namespace readpath
