// mountinfo parsing, myfs stats parsing (on a fake stats file: myfs need not exist), and
// remounting without losing a mount's flags.
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "error.hpp"
#include "mounts.hpp"
#include "test_util.hpp"

namespace readpath {
namespace {

const char* kMountinfo =
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    "30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684096k\n"
    "61 27 0:55 / /mnt/my\\040fs rw,relatime shared:7 master:2 - myfs none rw,synthetic,read=iter\n";

TEST(Mountinfo, ParsesFieldsOptionalTagsAndEscapes) {
  std::istringstream in(kMountinfo);
  const auto mounts = parse_mountinfo(in);
  ASSERT_EQ(mounts.size(), 3u);
  const MountInfo& my = mounts[2];
  EXPECT_EQ(my.mount_point, "/mnt/my fs");
  EXPECT_EQ(my.fstype, "myfs");
  EXPECT_EQ(my.major, 0u);
  EXPECT_EQ(my.minor, 55u);
  EXPECT_TRUE(my.is_myfs());
  EXPECT_TRUE(my.has_option("synthetic"));
  EXPECT_TRUE(my.has_option("read"));
  EXPECT_FALSE(my.has_option("trace"));
  EXPECT_EQ(myfs_stats_path(my), "/sys/fs/myfs/0:55/stats");
  EXPECT_EQ(mounts[1].options(), "rw,relatime,size=24684096k");
}

TEST(Mountinfo, MyfsIsInBlockModeExactlyWhenItsSourceIsADevice) {
  std::istringstream in(std::string(kMountinfo) +
                        "62 27 252:0 / /mnt/blk rw,relatime - myfs /dev/nullb0 rw\n"
                        "63 27 0:56 / /mnt/none rw,relatime - myfs none rw\n");
  const auto mounts = parse_mountinfo(in);
  ASSERT_EQ(mounts.size(), 5u);
  EXPECT_TRUE(mounts[3].is_myfs_block());
  EXPECT_FALSE(mounts[4].is_myfs_block());
  EXPECT_FALSE(mounts[2].is_myfs_block());
  EXPECT_FALSE(mounts[0].is_myfs_block());  // ext4 on /dev/vda: a device, but not myfs
}

std::string statfs_name(const std::string& path) {
  struct statfs fs {};
  if (statfs(path.c_str(), &fs) != 0) throw sys_error("statfs " + path);
  return fs_type_name(static_cast<unsigned long>(fs.f_type));
}

// A mountinfo file that lists path's device only at a mount point that does not hold it,
// as a chroot's may when the mount that holds it lies outside the root.
class MissingMount : public ::testing::Test {
 protected:
  std::string mountinfo_without(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) throw sys_error("stat " + path);
    const std::string here = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    const std::string other = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev) + 1);
    dir_ = test::scratch_dir();
    file_ = dir_ + "/mountinfo";
    std::ofstream(file_) << "27 1 " << other << " / / rw,relatime - ext4 /dev/other rw\n"
                         << "40 27 " << here << " / /not/above/it rw,relatime - ext4 /dev/this rw\n";
    return file_;
  }
  void TearDown() override {
    if (!file_.empty()) unlink(file_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str()), untrack_path(dir_);
  }
  std::string dir_, file_;
};

// The mount of a real directory holds it: the directory's device, and a mount point that is
// an ancestor of it on that same device. Nothing about which directories this machine mounts
// where: /dev/shm is a tmpfs of its own on most machines and a plain directory of /dev in some
// build roots and containers. In a chroot the mount may be absent from mountinfo: then only
// what statfs says is checked.
TEST(Mountinfo, FindsTheMountOfARealDirectory) {
  for (const std::string dir : {"/", "/dev/shm", "/proc/self", READPATH_TEST_SCRATCH}) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) continue;
    const MountInfo m = mount_of(dir);
    EXPECT_EQ(m.major, major(st.st_dev)) << dir;
    EXPECT_EQ(m.minor, minor(st.st_dev)) << dir;
    if (!m.from_mountinfo) {
      EXPECT_EQ(m.fstype, statfs_name(dir)) << dir;
      continue;
    }
    char real[PATH_MAX];
    ASSERT_NE(realpath(dir.c_str(), real), nullptr) << dir;
    const std::string path = real;
    EXPECT_TRUE(m.mount_point == "/" || path == m.mount_point || path.rfind(m.mount_point + "/", 0) == 0)
        << dir << " (" << path << ") is not under " << m.mount_point;
    struct stat root {};
    ASSERT_EQ(stat(m.mount_point.c_str(), &root), 0) << m.mount_point;
    EXPECT_EQ(root.st_dev, st.st_dev) << dir << " and its mount point " << m.mount_point;
  }
}

TEST_F(MissingMount, IsDescribedFromStatfsAndStat) {
  const std::string dir = READPATH_TEST_SCRATCH;
  const std::string mountinfo = mountinfo_without(dir);
  const MountInfo m = mount_of(dir, mountinfo);
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_FALSE(m.from_mountinfo);
  EXPECT_EQ(m.major, major(st.st_dev));
  EXPECT_EQ(m.minor, minor(st.st_dev));
  EXPECT_EQ(m.fstype, statfs_name(dir));
  EXPECT_EQ(m.mount_point, "");
  EXPECT_EQ(m.source, "");
  EXPECT_EQ(m.options(), "");
  EXPECT_NE(m.note.find("no mount in " + mountinfo + " holds"), std::string::npos) << m.note;
  EXPECT_NE(m.note.find("mount point, source and options unknown"), std::string::npos) << m.note;
}

// What the cells decide from the filesystem still holds: tmpfs is named so, and cold
// cells skip there.
TEST_F(MissingMount, TmpfsIsStillTmpfs) {
  if (access("/dev/shm", F_OK) != 0 || statfs_name("/dev/shm") != "tmpfs") GTEST_SKIP() << "/dev/shm is not tmpfs here";
  const MountInfo m = mount_of("/dev/shm", mountinfo_without("/dev/shm"));
  EXPECT_FALSE(m.from_mountinfo);
  EXPECT_EQ(m.fstype, "tmpfs");
  EXPECT_FALSE(m.is_myfs());
}

TEST(FsTypeName, NamesFilesystemsAsMountinfoDoes) {
  EXPECT_EQ(fs_type_name(0x01021994), "tmpfs");
  EXPECT_EQ(fs_type_name(0xEF53), "ext2/ext3/ext4");
  EXPECT_EQ(fs_type_name(0x58465342), "xfs");
  EXPECT_EQ(fs_type_name(0x794c7630), "overlay");
  EXPECT_EQ(fs_type_name(0x01021997), "9p");
  EXPECT_EQ(fs_type_name(0x12345678), "unknown (0x12345678)");
}

// The module's magic, read from its header, is the one the library calls myfs.
TEST(FsTypeName, KnowsTheModulesMagic) {
  std::ifstream header(READPATH_SOURCE_DIR "/kmod/myfs.h");
  ASSERT_TRUE(header) << READPATH_SOURCE_DIR "/kmod/myfs.h";
  const std::string text((std::istreambuf_iterator<char>(header)), std::istreambuf_iterator<char>());
  std::smatch magic;
  ASSERT_TRUE(std::regex_search(text, magic, std::regex(R"(#define MYFS_MAGIC\s+(0x[0-9a-fA-F]+))")));
  EXPECT_EQ(fs_type_name(std::stoul(magic[1].str(), nullptr, 16)), "myfs");
}

TEST(Mountinfo, MissingPathIsAnError) { EXPECT_THROW(mount_of("/no/such/dir"), Error); }

TEST(MyfsStats, ParsesTheContractsCounters) {
  const auto c = parse_stats("read 0\nread_iter 12\nread_folio 3\nreadahead 1\nreadahead_pages 32\n");
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[1].first, "read_iter");
  EXPECT_EQ(c[1].second, 12u);
  EXPECT_EQ(c[4].second, 32u);
}

TEST(MyfsStats, RejectsMalformedLines) {
  EXPECT_THROW(parse_stats("read\n"), Error);
  EXPECT_THROW(parse_stats("read 1 2\n"), Error);
  EXPECT_THROW(parse_stats("read -1\n"), Error);
  EXPECT_THROW(parse_stats("read x1\n"), Error);
}

TEST(MyfsStats, ReadsAFakeStatsFile) {
  const std::string dir = test::scratch_dir();
  const std::string path = dir + "/stats";
  {
    std::ofstream out(path);
    const char* names[] = {"read", "read_iter", "read_folio", "readahead", "readahead_pages", "mmap",
                           "fault", "fault_major", "fault_minor", "fault_error", "map_pages",
                           "map_pages_pages", "page_mkwrite", "write_iter", "fsync"};
    uint64_t v = 1;
    for (const char* n : names) out << n << " " << (v *= 3) << "\n";
  }
  const auto c = read_stats(path);
  unlink(path.c_str());
  rmdir(dir.c_str());
  untrack_path(dir);
  ASSERT_EQ(c.size(), 15u);
  EXPECT_EQ(c.front().first, "read");
  EXPECT_EQ(c.front().second, 3u);
  EXPECT_EQ(c.back().first, "fsync");
  EXPECT_EQ(c.back().second, 14348907u);
}

TEST(MyfsStats, MissingFileNamesIt) {
  try {
    read_stats("/sys/fs/myfs/0:0/stats-none");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("open /sys/fs/myfs/0:0/stats-none"), std::string::npos);
  }
}

TEST(MyfsStats, DeltaIsPerCounterInTheNewOrder) {
  const Counters before = {{"read", 5}, {"fault", 2}};
  const Counters after = {{"read", 9}, {"read_iter", 4}, {"fault", 2}};
  EXPECT_EQ(counter_delta(before, after), (Counters{{"read", 4}, {"read_iter", 4}, {"fault", 0}}));
}

TEST(RemountFlags, KeepEveryPerMountFlagStatvfsReports) {
  EXPECT_EQ(remount_flags(ST_RELATIME), static_cast<unsigned long>(MS_RELATIME));
  EXPECT_EQ(remount_flags(ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME),
            static_cast<unsigned long>(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME));
  EXPECT_EQ(remount_flags(ST_SYNCHRONOUS | ST_RELATIME), static_cast<unsigned long>(MS_SYNCHRONOUS | MS_RELATIME));
  EXPECT_EQ(remount_flags(0x2000 | ST_RELATIME), static_cast<unsigned long>(MS_NOSYMFOLLOW | MS_RELATIME));
  // Neither noatime nor relatime: strictatime, named so that relatime does not replace it.
  EXPECT_EQ(remount_flags(ST_NOSUID), static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME));
  // Flags that are not the mount's own (write, append, immutable, mandlock) are not passed.
  EXPECT_EQ(remount_flags(ST_WRITE | ST_APPEND | ST_IMMUTABLE | ST_MANDLOCK | ST_RELATIME),
            static_cast<unsigned long>(MS_RELATIME));
}

// On a tmpfs mounted nosuid,nodev,noexec,noatime in a private mount namespace (a child
// process, so nothing leaks): remount() changes the option it names and keeps the flags,
// where a bare MS_REMOUNT drops them (the effect remount_flags exists for).
TEST(Remount, ChangesTheNamedOptionAndKeepsTheFlags) {
  const std::string dir = test::scratch_dir();
  enum { kKept = 0, kFailed = 1, kFlagsLost = 2, kSizeUnchanged = 3, kBareKept = 4, kCannot = 77 };
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME;
    const unsigned long st = ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME;
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", dir.c_str(), "tmpfs", flags, "size=1m") != 0)
      _exit(kCannot);
    try {
      remount(dir, "size=2m");
    } catch (const Error&) {
      _exit(kFailed);
    }
    struct statvfs v {};
    if (statvfs(dir.c_str(), &v) != 0) _exit(kFailed);
    if ((v.f_flag & st) != st) _exit(kFlagsLost);
    if (v.f_blocks * v.f_frsize != 2u << 20) _exit(kSizeUnchanged);
    if (mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT, "size=3m") != 0 || statvfs(dir.c_str(), &v) != 0)
      _exit(kFailed);
    _exit((v.f_flag & st) == st ? kBareKept : kKept);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  rmdir(dir.c_str());
  untrack_path(dir);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kCannot) GTEST_SKIP() << "cannot mount in a private mount namespace here (needs root)";
  EXPECT_NE(WEXITSTATUS(status), kFailed) << "remount failed";
  EXPECT_NE(WEXITSTATUS(status), kFlagsLost) << "remount() dropped nosuid/nodev/noexec/noatime";
  EXPECT_NE(WEXITSTATUS(status), kSizeUnchanged) << "remount() did not apply size=2m";
  EXPECT_NE(WEXITSTATUS(status), kBareKept) << "a bare MS_REMOUNT kept the flags too: this test cannot see a loss";
  EXPECT_EQ(WEXITSTATUS(status), kKept);
}

}  // namespace
}  // namespace readpath
