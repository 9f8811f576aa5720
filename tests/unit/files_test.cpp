// File preparation: the content lands after creation (it depends on st_ino), synthetic
// files are only sized, a file that cannot fit is refused up front, and removal works.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "content.hpp"
#include "environment.hpp"
#include "error.hpp"
#include "mounts.hpp"
#include "test_util.hpp"

namespace readpath {
namespace {

std::vector<unsigned char> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::scratch_dir(); }
  void TearDown() override {
    rmdir(dir_.c_str());
    untrack_path(dir_);
  }
  std::string dir_;
};

TEST_F(FilesTest, WritesTheContentOfItsOwnInode) {
  const PreparedFile f = prepare_file(dir_ + "/c", 100000, false);
  struct stat st {};
  ASSERT_EQ(stat(f.path.c_str(), &st), 0);
  EXPECT_EQ(f.ino, st.st_ino);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 100000u);
  const auto bytes = slurp(f.path);
  ASSERT_EQ(bytes.size(), 100000u);
  EXPECT_NO_THROW(content_check(f.ino, 0, bytes.data(), bytes.size()));
  remove_file(f);
  EXPECT_NE(access(f.path.c_str(), F_OK), 0);
}

TEST_F(FilesTest, SyntheticFilesAreOnlySized) {
  const PreparedFile f = prepare_file(dir_ + "/s", 8192, true);
  const auto bytes = slurp(f.path);
  ASSERT_EQ(bytes.size(), 8192u);
  EXPECT_EQ(bytes, std::vector<unsigned char>(8192, 0));  // outside myfs: a sparse file
  remove_file(f);
}

TEST_F(FilesTest, AFileThatCannotFitIsRefused) {
  struct statvfs vfs {};
  ASSERT_EQ(statvfs(dir_.c_str(), &vfs), 0);
  const uint64_t too_big = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize + (1ull << 30);
  try {
    prepare_file(dir_ + "/big", too_big, false);
    FAIL() << "a file larger than the free space was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
  }
  EXPECT_NE(access((dir_ + "/big").c_str(), F_OK), 0);
}

TEST_F(FilesTest, AnExistingFileIsNotOverwritten) {
  const PreparedFile f = prepare_file(dir_ + "/x", 4096, false);
  EXPECT_THROW(prepare_file(dir_ + "/x", 4096, false), Error);
  remove_file(f);
}

TEST_F(FilesTest, TrackedPathsAreRemovedTogether) {
  const PreparedFile f = prepare_file(dir_ + "/t", 4096, false);
  const std::string sub = make_fresh_dir(dir_);
  remove_tracked_paths();  // what exit and SIGINT do: files first, then directories
  EXPECT_NE(access(f.path.c_str(), F_OK), 0);
  EXPECT_NE(access(sub.c_str(), F_OK), 0);
  EXPECT_NE(access(dir_.c_str(), F_OK), 0);
}

TEST_F(FilesTest, FindsAnImageFileOfExactlyItsSizeAndLeavesItAlone) {
  EXPECT_FALSE(find_image_file(dir_, 8192));  // none there
  const std::string path = dir_ + "/" + image_file_name(8192);
  std::ofstream(path) << std::string(8192, 'x');
  const auto found = find_image_file(dir_, 8192);
  ASSERT_TRUE(found);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(found->path, path);
  EXPECT_EQ(found->ino, st.st_ino);
  EXPECT_EQ(found->size, 8192u);
  remove_tracked_paths();  // it was never tracked: still there
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
  unlink(path.c_str());
}

TEST_F(FilesTest, RefusesAnImageFileOfAnotherSize) {
  const std::string path = dir_ + "/" + image_file_name(4096);
  std::ofstream(path) << std::string(4000, 'x');
  try {
    find_image_file(dir_, 4096);
    ADD_FAILURE() << "a 4000-byte readpath-4K.dat was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has 4000 bytes, not 4096"), std::string::npos) << e.what();
  }
  unlink(path.c_str());
}

// ramfs (as myfs without `synthetic`) reports no size: a file must fit in memory, not in the
// zero blocks statvfs says are free. On a ramfs in a private mount namespace (a child).
TEST_F(FilesTest, AFilesystemWithoutASizeTakesWhatMemoryHolds) {
  enum { kWritten = 0, kRefused = 1, kWrongSize = 2, kTooLargeTaken = 3, kCannot = 77 };
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("ramfs", dir_.c_str(), "ramfs", 0, nullptr) != 0)
      _exit(kCannot);
    try {
      const PreparedFile f = prepare_file(dir_ + "/in-memory", 1 << 20, false);
      if (f.size != 1u << 20) _exit(kWrongSize);
      remove_file(f);
    } catch (const Error&) {
      _exit(kRefused);
    }
    try {
      prepare_file(dir_ + "/too-large", memory_available() + (1ull << 40), false);
      _exit(kTooLargeTaken);
    } catch (const Error& e) {
      _exit(std::string(e.what()).find("of memory available (it reports no size)") != std::string::npos ? kWritten
                                                                                                      : kRefused);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kCannot) GTEST_SKIP() << "cannot mount a ramfs in a private mount namespace here (needs root)";
  EXPECT_EQ(WEXITSTATUS(status), kWritten);
}

// The default directory: a tmpfs when there is one, said in a note when it is not the first.
class ScratchParentTest : public FilesTest {
 protected:
  // A writable tmpfs mounted on this machine, or "" (a minimal root may have none).
  static std::string some_writable_tmpfs() {
    std::ifstream in("/proc/self/mountinfo");
    for (const MountInfo& m : parse_mountinfo(in))
      if (m.fstype == "tmpfs" && access(m.mount_point.c_str(), W_OK | X_OK) == 0 &&
          mount_of(m.mount_point).fstype == "tmpfs")
        return m.mount_point;
    return "";
  }
};

TEST_F(ScratchParentTest, TakesTheFirstCandidateOnTmpfsWithoutANote) {
  const std::string tmpfs = some_writable_tmpfs();
  if (tmpfs.empty()) GTEST_SKIP() << "no writable tmpfs is mounted here";
  const ScratchParent chosen = default_scratch_parent({tmpfs, dir_});
  EXPECT_EQ(chosen.path, tmpfs);
  EXPECT_EQ(chosen.fstype, "tmpfs");
  EXPECT_EQ(chosen.note, "");
}

TEST_F(ScratchParentTest, PrefersALaterTmpfsAndSaysWhatTheFirstWas) {
  const std::string tmpfs = some_writable_tmpfs();
  const std::string disk_fs = mount_of(dir_).fstype;
  if (tmpfs.empty() || disk_fs == "tmpfs") GTEST_SKIP() << "needs a writable tmpfs and a build tree on another filesystem";
  const ScratchParent chosen = default_scratch_parent({dir_, tmpfs});
  EXPECT_EQ(chosen.path, tmpfs);
  EXPECT_EQ(chosen.note, dir_ + " is " + disk_fs + ", not tmpfs; timing under " + tmpfs + " (tmpfs) instead");
}

TEST_F(ScratchParentTest, FallsBackToAWritableDirectoryAndNamesIt) {
  const ScratchParent chosen = default_scratch_parent({"/nonexistent-readpath", dir_});
  EXPECT_EQ(chosen.path, dir_);
  EXPECT_EQ(chosen.fstype, mount_of(dir_).fstype);
  EXPECT_EQ(chosen.note.rfind("/nonexistent-readpath: No such file or directory; ", 0), 0u) << chosen.note;
  EXPECT_NE(chosen.note.find("under " + dir_ + " ("), std::string::npos) << chosen.note;
}

TEST_F(ScratchParentTest, RefusesWhenNothingIsWritable) {
  EXPECT_THROW(default_scratch_parent({"/nonexistent-readpath", "/nonexistent-readpath-2"}), Error);
}

TEST(ImageFileName, SpellsSizesAsTheEngineDoes) {
  EXPECT_EQ(image_file_name(4096), "readpath-4K.dat");
  EXPECT_EQ(image_file_name(1u << 20), "readpath-1M.dat");
  EXPECT_EQ(image_file_name(16u << 20), "readpath-16M.dat");
  EXPECT_EQ(image_file_name(1ull << 30), "readpath-1G.dat");
  EXPECT_EQ(image_file_name(1536ull << 20), "readpath-1536M.dat");
  EXPECT_EQ(image_file_name(1000), "readpath-1000.dat");
}

}  // namespace
}  // namespace readpath
