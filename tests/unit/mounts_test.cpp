// mountinfo parsing and myfs stats parsing (on a fake stats file: myfs need not exist).
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
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

TEST(Mountinfo, FindsTheMountOfARealDirectory) {
  const MountInfo root = mount_of("/");
  EXPECT_EQ(root.mount_point, "/");
  if (access("/dev/shm", F_OK) == 0) {
    EXPECT_EQ(mount_of("/dev/shm").mount_point, "/dev/shm");
  }
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

}  // namespace
}  // namespace readpath
