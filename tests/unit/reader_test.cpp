// Every reader: reads exactly the bytes of its region, each checked against the content
// function, with short reads at end of file, offsets inside the file and queue depths.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "cache.hpp"
#include "content.hpp"
#include "error.hpp"
#include "reader.hpp"
#include "test_util.hpp"

namespace readpath {
namespace {

// A file whose size is not a multiple of any request size, so the last request is short.
constexpr uint64_t kFileSize = (1u << 20) + 1000;

// The methods of the table that `applies` to, by name: each suite below runs over the
// methods its behaviour belongs to, and the table decides which those are.
template <class Predicate>
std::vector<std::string> methods_where(Predicate applies) {
  std::vector<std::string> names;
  for (const auto& m : methods())
    if (applies(m)) names.emplace_back(m.name);
  return names;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

class ReaderTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir();
    file_ = prepare_file(dir_ + "/f", kFileSize, false);
    // As readpath_bench opens it for the method: O_DIRECT methods need it.
    const bool direct = find_method(GetParam())->direct;
    fd_ = open(file_.path.c_str(), O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
    if (fd_ < 0 && direct && errno == EINVAL) return;  // a filesystem refusing O_DIRECT: reader() skips
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    remove_file(file_);
    rmdir(dir_.c_str());
    untrack_path(dir_);
  }

  Target target(uint64_t begin, uint64_t end) const { return {fd_, file_.ino, file_.size, begin, end}; }

  // The reader, or a skip when this kernel refuses a feature the method needs.
  std::unique_ptr<Reader> reader(size_t io, unsigned qd, Target t, unsigned sq_entries = 0) {
    ReaderConfig config;
    config.method = find_method(GetParam());
    config.io = io;
    config.qd = qd;
    config.sq_entries = sq_entries;
    if (fd_ < 0) return nullptr;
    try {
      auto r = make_reader(config, t);
      r->pass(false);  // a probe: does this kernel accept the method's calls at all?
      return r;
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.find("not supported") != std::string::npos || what.find("Invalid argument") != std::string::npos)
        return nullptr;
      throw;
    }
  }

  std::string dir_;
  PreparedFile file_;
  int fd_ = -1;
};

#define READER_OR_SKIP(var, ...)                                                   \
  auto var = reader(__VA_ARGS__);                                                  \
  if (!var) GTEST_SKIP() << GetParam() << ": this kernel (or the build tree's filesystem) refuses the method's call"

// Every method.
class EveryMethod : public ReaderTest {};

TEST_P(EveryMethod, ReadsTheWholeFileWithAShortLastRequest) {
  const size_t io = find_method(GetParam())->uses_io ? 64 * 1024 : page_size();
  READER_OR_SKIP(r, io, 4, target(0, kFileSize));
  const PassResult pass = r->pass(true);
  EXPECT_EQ(pass.bytes, kFileSize);
  EXPECT_EQ(pass.requests, (kFileSize + io - 1) / io);
}

TEST_P(EveryMethod, ReadsOnlyItsRegion) {
  const uint64_t begin = 16 * page_size(), end = begin + 40 * page_size() + 123;
  READER_OR_SKIP(r, 8192, 2, target(begin, end));
  const PassResult pass = r->pass(true);
  EXPECT_EQ(pass.bytes, end - begin);
}

TEST_P(EveryMethod, SmallRequestsCoverEveryByte) {
  READER_OR_SKIP(r, find_method(GetParam())->direct ? kDirectAlign : 512, 1, target(0, 64 * 1024 + 77));
  EXPECT_EQ(r->pass(true).bytes, 64u * 1024 + 77);
}

TEST_P(EveryMethod, PassesRepeat) {
  READER_OR_SKIP(r, 4096, 8, target(0, kFileSize));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r->pass(true).bytes, kFileSize);
  r->release_mappings();
  EXPECT_EQ(r->pass(true).bytes, kFileSize);
}

TEST_P(EveryMethod, DetectsWrongContent) {
  READER_OR_SKIP(r, 4096, 4, target(0, kFileSize));
  r.reset();  // a fresh reader (and mapping) sees the changed byte
  const int wfd = open(file_.path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(wfd, 0);
  const unsigned char bad = static_cast<unsigned char>(~content_byte(file_.ino, 300000));
  ASSERT_EQ(pwrite(wfd, &bad, 1, 300000), 1);
  close(wfd);
  READER_OR_SKIP(again, 4096, 4, target(0, kFileSize));
  try {
    again->pass(true);
    FAIL() << "a wrong byte at offset 300000 went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("offset 300000"), std::string::npos) << e.what();
  }
}

TEST_P(EveryMethod, LatencyPassReadsLikeAnyPass) {
  const size_t io = find_method(GetParam())->uses_io ? 16 * 1024 : page_size();
  READER_OR_SKIP(r, io, 4, target(0, kFileSize));
  LatencyHistogram latency;
  EXPECT_EQ(r->latency_pass(latency).bytes, kFileSize);
  EXPECT_EQ(r->pass(true).bytes, kFileSize);  // and leaves the reader as it was
  EXPECT_GT(latency.count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllMethods, EveryMethod,
                         ::testing::ValuesIn(methods_where([](const MethodInfo&) { return true; })), param_name);

// The populating methods read every page in one call, which is their one request per pass;
// every other method's requests are the pass's requests.
bool populates(const MethodInfo& m) { return m.knobs.populate != Populate::none; }

class RequestMethod : public ReaderTest {};

TEST_P(RequestMethod, LatencyPassTimesEveryRequest) {
  const size_t io = find_method(GetParam())->uses_io ? 16 * 1024 : page_size();
  READER_OR_SKIP(r, io, 4, target(0, kFileSize));
  LatencyHistogram latency;
  const PassResult pass = r->latency_pass(latency);
  EXPECT_EQ(latency.count(), pass.requests);
  EXPECT_EQ(pass.requests, (kFileSize + io - 1) / io);
  EXPECT_GE(latency.percentile(99), latency.percentile(50));
}

INSTANTIATE_TEST_SUITE_P(PerRequest, RequestMethod,
                         ::testing::ValuesIn(methods_where([](const MethodInfo& m) { return !populates(m); })),
                         param_name);

class PopulatingMethod : public ReaderTest {};

TEST_P(PopulatingMethod, LatencyPassTimesThePopulatingCallOnce) {
  READER_OR_SKIP(r, page_size(), 1, target(0, kFileSize));
  LatencyHistogram latency;
  const PassResult pass = r->latency_pass(latency);
  EXPECT_EQ(latency.count(), 1u);
  EXPECT_EQ(pass.requests, (kFileSize + page_size() - 1) / page_size());  // items still count pages
}

INSTANTIATE_TEST_SUITE_P(Populating, PopulatingMethod, ::testing::ValuesIn(methods_where(populates)), param_name);

// Methods with a queue depth.
class QueuedMethod : public ReaderTest {};

TEST_P(QueuedMethod, QueueDepthsKeepEveryRequestInOrderOfOffset) {
  for (unsigned qd : {1u, 2u, 7u, 32u, 128u}) {
    READER_OR_SKIP(r, 16384, qd, target(0, kFileSize));
    const PassResult pass = r->pass(true);
    EXPECT_EQ(pass.bytes, kFileSize) << "qd " << qd;
    EXPECT_EQ(pass.requests, (kFileSize + 16383) / 16384) << "qd " << qd;
  }
}

INSTANTIATE_TEST_SUITE_P(QueueDepthMethods, QueuedMethod,
                         ::testing::ValuesIn(methods_where([](const MethodInfo& m) { return m.uses_qd; })),
                         param_name);

// io_uring methods.
class UringMethod : public ReaderTest {};

TEST_P(UringMethod, SaysWhichSetupFlagsTheKernelTook) {
  READER_OR_SKIP(r, 4096, 4, target(0, kFileSize));
  const std::string note = r->setup_note();
  EXPECT_EQ(note.rfind("io_uring setup ", 0), 0u) << note;
  if (GetParam() == "uring_sqpoll") {
    EXPECT_NE(note.find("SQPOLL"), std::string::npos) << note;
  }
  if (GetParam() != "uring" && GetParam() != "uring_direct" && GetParam() != "uring_dontcache") {  // by fd
    EXPECT_NE(note.find("registered file"), std::string::npos) << note;
  }
}

TEST_P(UringMethod, ReportsTheSqpollThreadOnlyWhenItHasOne) {
  READER_OR_SKIP(r, 4096, 4, target(0, kFileSize));
  const std::string seen = r->helpers_observed();
  if (GetParam() == "uring_sqpoll") {
    // Seen in /proc/self/task: where it may run and where it last ran.
    EXPECT_EQ(seen.rfind("sqpoll cpus ", 0), 0u) << seen;
    EXPECT_NE(seen.find(" last ran "), std::string::npos) << seen;
  } else {
    EXPECT_EQ(seen, "");
  }
}

// A submission ring with fewer slots than requests in flight: every new request finds the
// ring full until the kernel has taken the entries before it -- with SQPOLL, until its
// thread has, however far it lags. The reader waits; it never gives up on a full ring.
TEST_P(UringMethod, WaitsOutAFullSubmissionRing) {
  READER_OR_SKIP(r, 4096, 16, target(0, kFileSize), 1);
  for (int i = 0; i < 3; ++i) {
    const PassResult pass = r->pass(true);
    EXPECT_EQ(pass.bytes, kFileSize);
    EXPECT_EQ(pass.requests, (kFileSize + 4095) / 4096);
  }
  LatencyHistogram latency;
  EXPECT_EQ(r->latency_pass(latency).requests, (kFileSize + 4095) / 4096);
  EXPECT_EQ(latency.count(), (kFileSize + 4095) / 4096);
}

INSTANTIATE_TEST_SUITE_P(IoUringMethods, UringMethod,
                         ::testing::ValuesIn(methods_where([](const MethodInfo& m) { return m.family == Family::uring; })),
                         param_name);

// O_DIRECT methods: whole blocks from the device, on a file opened for it.
class DirectMethod : public ReaderTest {
 protected:
  std::string refusal(size_t io, const Target& t) {
    ReaderConfig config;
    config.method = find_method(GetParam());
    config.io = io;
    try {
      make_reader(config, t);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
};

TEST_P(DirectMethod, RefusesRequestsAndOffsetsOffTheBlockGrain) {
  if (fd_ < 0) GTEST_SKIP() << "the build tree's filesystem refuses O_DIRECT";
  EXPECT_NE(refusal(512, target(0, kFileSize)).find("multiples of 4096"), std::string::npos);
  EXPECT_NE(refusal(6144, target(0, kFileSize)).find("multiples of 4096"), std::string::npos);
  EXPECT_NE(refusal(4096, target(100, kFileSize)).find("region start 100"), std::string::npos);
  EXPECT_EQ(refusal(8192, target(4096, kFileSize)), "");
}

TEST_P(DirectMethod, RefusesAFileOpenedWithoutODirect) {
  const int buffered = open(file_.path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(buffered, 0);
  EXPECT_NE(refusal(4096, {buffered, file_.ino, file_.size, 0, file_.size}).find("not open with O_DIRECT"),
            std::string::npos);
  close(buffered);
}

TEST_P(DirectMethod, ReadsPastTheCacheWithoutFillingIt) {
  READER_OR_SKIP(r, 64 * 1024, 4, target(0, kFileSize));
  ASSERT_EQ(posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED), 0);
  EXPECT_EQ(r->pass(true).bytes, kFileSize);
  EXPECT_EQ(resident_fraction(fd_, 0, kFileSize), 0.0);  // buffered reads would have filled it
}

INSTANTIATE_TEST_SUITE_P(ODirectMethods, DirectMethod,
                         ::testing::ValuesIn(methods_where([](const MethodInfo& m) { return m.direct; })), param_name);

// A reader does what its method's row says, whatever the row is called: every method's
// row, renamed, reads its file whole and checks every byte (or is refused exactly as the
// named row is), and says what it set up as the named row does.
TEST(Readers, TakeTheirBehaviourFromTheRowNotTheName) {
  const std::string dir = test::scratch_dir();
  const PreparedFile file = prepare_file(dir + "/f", kFileSize, false);
  for (const auto& named : methods()) {
    SCOPED_TRACE(std::string(named.name));
    MethodInfo renamed = named;
    renamed.name = "renamed";
    const int fd = open(file.path.c_str(), O_RDONLY | O_CLOEXEC | (named.direct ? O_DIRECT : 0));
    if (fd < 0) continue;  // a filesystem refusing O_DIRECT
    const Target t{fd, file.ino, file.size, 0, file.size};
    auto outcome = [&](const MethodInfo& m) -> std::pair<std::string, std::string> {
      ReaderConfig config;
      config.method = &m;
      config.io = 4096;
      config.qd = 4;
      try {
        auto r = make_reader(config, t);
        const PassResult pass = r->pass(true);
        return {std::to_string(pass.bytes) + " bytes in " + std::to_string(pass.requests) + " requests",
                r->setup_note()};
      } catch (const Error& e) {
        return {std::string("refused: ") + e.what(), ""};
      }
    };
    const auto [named_pass, named_note] = outcome(named);
    const auto [renamed_pass, renamed_note] = outcome(renamed);
    EXPECT_EQ(renamed_pass, named_pass);
    EXPECT_EQ(renamed_note, named_note);
    close(fd);
  }
  remove_file(file);
  rmdir(dir.c_str());
  untrack_path(dir);
}

// The knobs reach the reader: preadv2's flags name its call in errors, and a mapping's
// advice its setup note.
TEST(Readers, NameTheirCallsFromTheKnobs) {
  MethodInfo hipri = *find_method("preadv2_hipri");
  hipri.name = "anything";
  ReaderConfig config;
  config.method = &hipri;
  const Target closed{-1, 1, 4096, 0, 4096};
  try {
    make_reader(config, closed)->pass(false);
    ADD_FAILURE() << "a read of fd -1 succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("preadv2(RWF_HIPRI)"), std::string::npos) << e.what();
  }
  MethodInfo seq = *find_method("mmap_touch_seq");
  seq.name = "anything";
  config.method = &seq;
  EXPECT_EQ(make_reader(config, closed)->setup_note(), "madvise(MADV_SEQUENTIAL)");
}

// The baselines are described beside the methods but are not readers.
TEST(Readers, RefuseTheBaselines) {
  for (const auto& b : baselines()) {
    EXPECT_EQ(find_method(b.name), nullptr) << b.name;
    ReaderConfig config;
    config.method = &b;
    EXPECT_THROW(make_reader(config, Target{}), Error) << b.name;
  }
}

}  // namespace
}  // namespace readpath
