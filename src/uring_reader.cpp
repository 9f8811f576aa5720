// The io_uring family: IORING_OP_READ with qd requests in flight, submitted and reaped in
// batches; uring_fixed adds registered buffers and file, uring_sqpoll a kernel SQ thread,
// uring_direct reads a file opened O_DIRECT (requests in whole kDirectAlign blocks, as
// pread_direct's: the last one of a file that ends off that grain gets the file's rest).
//
// Timed region (pass): filling SQEs, io_uring_submit_and_wait and reaping CQEs. The ring,
// buffers and registrations are set up in the constructor, with as many of the optional
// setup flags (uring_setup.hpp) as the kernel accepts. The latency pass times each request
// from just before the io_uring_submit_and_wait that submits its SQE to the reaping of its
// completion.
//
// A full or lagging ring is waited out (RingWait): a reader never gives up on the first
// full submission queue, whatever the SQPOLL thread's lag; a ring stuck for kRingWaitLimit
// fails the cell with the reason.
#include <liburing.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "content.hpp"
#include "error.hpp"
#include "placement.hpp"
#include "reader.hpp"
#include "uring_setup.hpp"

namespace readpath {
namespace {

// How long a reader waits for the ring (a free submission entry, a completion) before it
// calls the cell failed: far beyond the lag of a healthy kernel thread on a loaded machine,
// short enough that a stuck one fails the cell with a reason instead of hanging the run.
constexpr std::chrono::seconds kRingWaitLimit{60};

// One wait for the ring: pause() yields first, then sleeps for growing spans (up to 1 ms,
// so a lagging SQPOLL thread gets the CPU), and throws a clear error past kRingWaitLimit.
class RingWait {
 public:
  explicit RingWait(std::string what) : what_(std::move(what)), start_(Clock::now()) {}

  // Interrupted or refused for now: worth asking again.
  static bool transient(int err) { return err == EINTR || err == EAGAIN || err == EBUSY; }

  void pause() {
    if (Clock::now() - start_ > kRingWaitLimit)
      throw Error("io_uring: waited " + std::to_string(kRingWaitLimit.count()) + " s for " + what_);
    if (++pauses_ <= 16) {
      sched_yield();
      return;
    }
    const auto span = std::chrono::microseconds(std::min<int64_t>(1000, int64_t{1} << std::min(pauses_ - 16, 10)));
    std::this_thread::sleep_for(span);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  Clock::time_point start_;
  int pauses_ = 0;
};

class UringReader final : public Reader {
 public:
  UringReader(const ReaderConfig& config, const Target& target)
      : io_(config.io), qd_(std::max(1u, config.qd)), t_(target), buffer_(io_ * qd_),
        direct_(config.method->direct) {
    const Knobs& knobs = config.method->knobs;
    fixed_buffers_ = knobs.fixed_buffers;
    dontcache_ = (knobs.rwf & kRwfDontcache) != 0;
    fixed_file_ = knobs.fixed_file;

    io_uring_params params{};
    unsigned required = 0;
    const unsigned sq_entries = config.sq_entries ? std::min(config.sq_entries, qd_) : qd_;
    if (sq_entries < qd_) {  // every request in flight still needs room for its completion
      required |= IORING_SETUP_CQSIZE;
      params.cq_entries = qd_;
    }
    if (knobs.sqpoll) {
      required |= IORING_SETUP_SQPOLL;
      params.sq_thread_idle = 100;  // ms: the thread stays awake across a pass
      if (config.sqpoll_cpu >= 0) {
        required |= IORING_SETUP_SQ_AFF;
        params.sq_thread_cpu = static_cast<unsigned>(config.sqpoll_cpu);
        sq_cpu_ = config.sqpoll_cpu;
      }
    }
    // Optional flags: whatever subset of them this kernel takes (setup_with_optional_flags).
    const SetupAttempt setup = setup_with_optional_flags(optional_setup_flags(), [&](unsigned optional) {
      io_uring_params attempt = params;
      attempt.flags = required | optional;
      const int ret = io_uring_queue_init_params(sq_entries, &ring_, &attempt);
      if (ret == 0) accepted_ = attempt.flags;
      return ret;
    });
    if (setup.result < 0)
      throw sys_error("io_uring_queue_init_params(" + setup_flag_names(required | setup.used) + ")", -setup.result);
    refused_ = setup.refused;
    creator_ = gettid();

    if (fixed_file_) {
      const int ret = io_uring_register_files(&ring_, &t_.fd, 1);
      if (ret < 0) {
        io_uring_queue_exit(&ring_);
        throw sys_error("io_uring_register_files", -ret);
      }
    }
    if (fixed_buffers_) {
      iovec iov{buffer_.data(), buffer_.size()};
      const int ret = io_uring_register_buffers(&ring_, &iov, 1);
      if (ret < 0) {
        io_uring_queue_exit(&ring_);
        throw sys_error("io_uring_register_buffers", -ret);
      }
    }
    slots_.resize(qd_);
    cqes_.resize(qd_);
    unsubmitted_.reserve(qd_);
  }

  ~UringReader() override { io_uring_queue_exit(&ring_); }

  PassResult pass(bool check) override { return run(check, NoRequestTiming{}); }
  PassResult latency_pass(LatencyHistogram& latency) override { return run(false, RequestTiming(latency)); }

  std::string setup_note() const override {
    std::string note = "io_uring setup " + setup_flag_names(accepted_);
    if (refused_) note += "; refused " + setup_flag_names(refused_);
    if (sq_cpu_ >= 0) note += "; sqpoll requested cpu " + std::to_string(sq_cpu_);
    if (fixed_file_) note += "; registered file";
    if (fixed_buffers_) note += "; registered buffers";
    return note;
  }

  // The SQPOLL thread is a thread of this process named after the thread that made the
  // ring (the kernel's io_sq_thread names it "iou-sqp-<tid>").
  std::string helpers_observed() const override {
    if (!(accepted_ & IORING_SETUP_SQPOLL)) return {};
    const std::string name = "iou-sqp-" + std::to_string(creator_);
    try {
      const std::optional<ThreadSighting> sq = find_thread(name);
      if (!sq) return "sqpoll thread " + name + " not found";
      return "sqpoll cpus " + cpu_list(sq->allowed) + " last ran " + std::to_string(sq->last_cpu);
    } catch (const Error& e) {
      return std::string("sqpoll thread not observed (") + e.what() + ")";
    }
  }

 private:
  struct Slot {
    uint64_t off = 0;
    unsigned len = 0;
    uint64_t submitted = 0;  // latency pass: when its SQE went to the kernel
  };

  template <class Timing>
  PassResult run(bool check, Timing timing) {
    PassResult r;
    uint64_t next = t_.begin;
    std::vector<unsigned> free_slots, retry;
    free_slots.reserve(qd_);
    retry.reserve(qd_);
    for (unsigned s = qd_; s-- > 0;) free_slots.push_back(s);
    unsigned inflight = 0;

    for (;;) {
      // Fill: first the remainders of short reads, then new requests.
      while (!retry.empty()) {
        queue(retry.back(), timing);
        retry.pop_back();
        ++inflight;
      }
      while (!free_slots.empty() && next < t_.end) {
        const unsigned s = free_slots.back();
        free_slots.pop_back();
        slots_[s].off = next;
        slots_[s].len = static_cast<unsigned>(std::min<uint64_t>(io_, t_.end - next));
        next += slots_[s].len;
        queue(s, timing);
        ++inflight;
      }
      if (inflight == 0) break;

      stamp_submitted(timing);
      submit_and_wait_one();
      const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes_.data(), qd_);
      const uint64_t reaped = timing.now();
      for (unsigned i = 0; i < n; ++i) {
        const unsigned s = static_cast<unsigned>(io_uring_cqe_get_data64(cqes_[i]));
        const int res = cqes_[i]->res;
        Slot& slot = slots_[s];
        if (res < 0 && dontcache_) throw dontcache_error("io_uring READ (RWF_DONTCACHE)", -res);
        if (res < 0) throw sys_error(fixed_buffers_ ? "io_uring READ_FIXED" : "io_uring READ", -res);
        if (res == 0)
          throw Error("io_uring READ: unexpected end of file at offset " + std::to_string(slot.off));
        const unsigned got = std::min(static_cast<unsigned>(res), slot.len);  // O_DIRECT: a block's rest
        if (direct_ && got < slot.len && got % kDirectAlign != 0)
          throw Error("io_uring READ (O_DIRECT): a short read of " + std::to_string(got) + " bytes at offset " +
                      std::to_string(slot.off) + " leaves the rest unaligned");
        if (check) content_check(t_.ino, slot.off, slot_buffer(s), got);
        timing.record(slot.submitted, reaped);
        r.bytes += got;
        ++r.requests;
        --inflight;
        if (got < slot.len) {  // short read: read the rest next round
          slot.off += got;
          slot.len -= got;
          retry.push_back(s);
        } else {
          free_slots.push_back(s);
        }
      }
      io_uring_cq_advance(&ring_, n);
    }
    return r;
  }

  // Latency pass: the SQEs queued since the last submission go to the kernel now.
  template <class Timing>
  void stamp_submitted(Timing timing) {
    if constexpr (Timing::on) {
      const uint64_t now = timing.now();
      for (unsigned s : unsubmitted_) slots_[s].submitted = now;
      unsubmitted_.clear();
    }
  }

  unsigned char* slot_buffer(unsigned s) { return buffer_.data() + static_cast<size_t>(s) * io_; }

  // A free submission entry, waited for as long as the ring needs, up to kRingWaitLimit.
  // The ring is full when the kernel has not yet taken the entries queued before: without
  // SQPOLL, submitting them frees their slots; with SQPOLL the kernel thread frees them when
  // it gets to run, which on a loaded machine can take many wake-ups. (Its SQ_WAIT can also
  // return before the head this process sees has moved: the kernel counts an entry as
  // taken when it reads it, but publishes the head only after its whole batch.)
  template <class Timing>
  io_uring_sqe* free_sqe(Timing timing) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    stamp_submitted(timing);  // what is queued goes to the kernel now
    const bool sqpoll = accepted_ & IORING_SETUP_SQPOLL;
    RingWait wait(sqpoll ? "a free submission queue entry (the SQPOLL thread took none: the machine is "
                           "starved or the thread is stuck)"
                         : "a free submission queue entry");
    for (;;) {
      // SQPOLL: publishes the tail (and wakes the thread if it sleeps), then waits for it.
      int ret = io_uring_submit(&ring_);
      if (ret >= 0 && sqpoll) ret = io_uring_sqring_wait(&ring_);
      if (ret < 0 && !RingWait::transient(-ret))
        throw sys_error(sqpoll ? "io_uring_sqring_wait" : "io_uring_submit", -ret);
      if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
      wait.pause();
    }
  }

  // io_uring_submit_and_wait for at least one completion, retried through interruptions
  // and the kernel's transient refusals (EAGAIN, EBUSY) up to kRingWaitLimit; the timed
  // path pays for nothing unless a call fails.
  void submit_and_wait_one() {
    int ret = io_uring_submit_and_wait(&ring_, 1);
    if (ret >= 0) return;
    RingWait wait("io_uring_submit_and_wait to stop failing with EINTR, EAGAIN or EBUSY");
    for (;;) {
      if (!RingWait::transient(-ret)) throw sys_error("io_uring_submit_and_wait", -ret);
      if (io_uring_cq_ready(&ring_) > 0) return;  // EBUSY with completions to reap: reap them
      wait.pause();
      ret = io_uring_submit_and_wait(&ring_, 1);
      if (ret >= 0) return;
    }
  }

  template <class Timing>
  void queue(unsigned s, Timing timing) {
    io_uring_sqe* sqe = free_sqe(timing);
    const int fd = fixed_file_ ? 0 : t_.fd;
    // O_DIRECT asks for whole blocks (io_ is a multiple of the grain, so this fits the slot).
    const unsigned len = direct_ ? static_cast<unsigned>((slots_[s].len + kDirectAlign - 1) / kDirectAlign * kDirectAlign)
                                 : slots_[s].len;
    if (fixed_buffers_)
      io_uring_prep_read_fixed(sqe, fd, slot_buffer(s), len, slots_[s].off, 0);
    else
      io_uring_prep_read(sqe, fd, slot_buffer(s), len, slots_[s].off);
    if (fixed_file_) io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
    if (dontcache_) sqe->rw_flags = kRwfDontcache;  // the one RWF_ flag an io_uring method takes
    io_uring_sqe_set_data64(sqe, s);
    if constexpr (Timing::on) unsubmitted_.push_back(s);
  }

  size_t io_;
  unsigned qd_;
  Target t_;
  Buffer buffer_;
  io_uring ring_{};
  bool direct_;
  bool fixed_buffers_ = false;
  bool fixed_file_ = false;
  bool dontcache_ = false;
  unsigned accepted_ = 0;
  unsigned refused_ = 0;
  int sq_cpu_ = -1;  // requested for the SQPOLL thread (SQ_AFF); -1: none
  pid_t creator_ = 0;
  std::vector<Slot> slots_;
  std::vector<io_uring_cqe*> cqes_;
  std::vector<unsigned> unsubmitted_;  // latency pass: slots queued since the last submission
};

}  // namespace

std::unique_ptr<Reader> make_uring_reader(const ReaderConfig& config, const Target& target) {
  return std::make_unique<UringReader>(config, target);
}

}  // namespace readpath
