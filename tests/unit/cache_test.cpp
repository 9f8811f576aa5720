// Cache state: warm means every page resident, cold means none, and tmpfs cannot evict.
#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cache.hpp"
#include "error.hpp"
#include "mounts.hpp"
#include "reader.hpp"
#include "test_util.hpp"

namespace readpath {
namespace {

class CacheTest : public ::testing::Test {
 protected:
  void make(const std::string& parent) {
    dir_ = test::scratch_dir(parent);
    file_ = prepare_file(dir_ + "/f", 4 << 20, false);
    fd_ = open(file_.path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    if (!file_.path.empty()) remove_file(file_);
    if (!dir_.empty()) rmdir(dir_.c_str()), untrack_path(dir_);
  }
  std::string dir_;
  PreparedFile file_;
  int fd_ = -1;
};

TEST_F(CacheTest, WarmMeansEveryPageResident) {
  make(READPATH_TEST_SCRATCH);
  make_warm(fd_, 0, file_.size);
  EXPECT_EQ(resident_fraction(fd_, 0, file_.size), 1.0);
}

TEST_F(CacheTest, EvictionEmptiesTheCacheOnADiskFilesystem) {
  make(READPATH_TEST_SCRATCH);
  const std::string fs = mount_of(dir_).fstype;
  if (fs == "tmpfs" || fs == "ramfs" || fs == "overlay")
    GTEST_SKIP() << "the build tree is on " << fs << ", which cannot evict; cold cells need a disk filesystem";
  make_warm(fd_, 0, file_.size);
  evict(fd_, 0, file_.size);
  EXPECT_EQ(resident_fraction(fd_, 0, file_.size), 0.0);
  // Without readahead, reading a quarter brings back exactly that quarter.
  ASSERT_EQ(posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM), 0);
  make_warm(fd_, 0, 1 << 20);
  EXPECT_NEAR(resident_fraction(fd_, 0, file_.size), 0.25, 0.01);
}

TEST_F(CacheTest, TmpfsKeepsPagesAfterEviction) {
  if (access("/dev/shm", W_OK) != 0 || mount_of("/dev/shm").fstype != "tmpfs")
    GTEST_SKIP() << "/dev/shm is not a writable tmpfs here";
  make("/dev/shm");
  evict(fd_, 0, file_.size);
  EXPECT_EQ(resident_fraction(fd_, 0, file_.size), 1.0);
}

TEST_F(CacheTest, ConfirmedStatesAreWhatTheySay) {
  make(READPATH_TEST_SCRATCH);
  const std::string fs = mount_of(dir_).fstype;
  ResidencyProbe whole(fd_, 0, file_.size);
  make_warm_confirmed(fd_, file_.size, whole);
  EXPECT_EQ(whole.fraction(), 1.0);
  if (fs == "tmpfs" || fs == "ramfs" || fs == "overlay") GTEST_SKIP() << fs << " cannot evict";
  make_cold_confirmed(fd_, file_.size, whole, fs);
  EXPECT_EQ(whole.fraction(), 0.0);
  EXPECT_NO_THROW(check_evictable(fd_, 0, file_.size, whole, fs));
}

TEST_F(CacheTest, ColdOnTmpfsSaysWhyItCannotBe) {
  if (access("/dev/shm", W_OK) != 0 || mount_of("/dev/shm").fstype != "tmpfs")
    GTEST_SKIP() << "/dev/shm is not a writable tmpfs here";
  make("/dev/shm");
  ResidencyProbe whole(fd_, 0, file_.size);
  try {
    make_cold_confirmed(fd_, file_.size, whole, "tmpfs");
    FAIL() << "tmpfs evicted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cold: POSIX_FADV_DONTNEED left 100.0% of the file in the page cache on tmpfs");
  }
  try {
    check_evictable(fd_, 0, file_.size, whole, "tmpfs");
    FAIL() << "tmpfs evicted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cold: POSIX_FADV_DONTNEED cannot evict on tmpfs");
  }
}

TEST(MissingPages, CountsPagesOfTheRegion) {
  EXPECT_EQ(missing_pages(1.0, 0, 100 * page_size()), 0u);
  EXPECT_EQ(missing_pages(0.75, 0, 100 * page_size()), 25u);
  EXPECT_EQ(missing_pages(0.0, 10, 10 + 3 * page_size()), 3u);
}

TEST_F(CacheTest, ResidencyOfAnUnalignedRegion) {
  make(READPATH_TEST_SCRATCH);
  make_warm(fd_, 0, file_.size);
  EXPECT_EQ(resident_fraction(fd_, 100, 5000), 1.0);
}

}  // namespace
}  // namespace readpath
