// The block device under a directory, resolved on a fake sysfs tree laid out as the kernel
// lays out its own (a virtio disk with a partition, brd, null_blk, a SCSI disk), and the
// parsing of a device's stat file.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "blockdev.hpp"
#include "error.hpp"
#include "test_util.hpp"

namespace readpath {
namespace {

class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override { root_ = test::scratch_dir(); }
  void TearDown() override {
    // The tree is ours alone: remove it whole, then stop tracking the directory.
    std::system(("rm -rf '" + root_ + "'").c_str());
    untrack_path(root_);
  }
  void mkdirs(const std::string& rel) { ASSERT_EQ(std::system(("mkdir -p '" + root_ + "/" + rel + "'").c_str()), 0); }
  void write(const std::string& rel, const std::string& text) {
    mkdirs(rel.substr(0, rel.find_last_of('/')));
    std::ofstream(root_ + "/" + rel) << text;
  }
  void link(const std::string& target, const std::string& rel) {
    mkdirs(rel.substr(0, rel.find_last_of('/')));
    ASSERT_EQ(symlink(target.c_str(), (root_ + "/" + rel).c_str()), 0) << rel;
  }
  // A disk at devices/<path>/<name> with the files every disk has.
  void disk(const std::string& path, const std::string& scheduler, bool blk_mq, const std::string& ra = "128") {
    write("devices/" + path + "/queue/scheduler", scheduler + "\n");
    write("devices/" + path + "/queue/read_ahead_kb", ra + "\n");
    write("devices/" + path + "/stat", "1 2 3 4 0 0 0 0 0 0 0\n");
    if (blk_mq) mkdirs("devices/" + path + "/mq/0");
  }
  std::string root_;
};

TEST_F(FakeSysfs, APartitionTakesItsQueueAndModelFromItsDiskAndKeepsItsOwnStat) {
  disk("pci0000:00/virtio1/block/vda", "none [mq-deadline] kyber bfq", true, "8192");
  write("devices/pci0000:00/virtio1/block/vda/vda1/partition", "1\n");
  write("devices/pci0000:00/virtio1/block/vda/vda1/stat", "9 8 7 6\n");
  mkdirs("bus/virtio/drivers/virtio_blk");
  link("../../../../bus/virtio/drivers/virtio_blk", "devices/pci0000:00/virtio1/driver");
  link("../../../virtio1", "devices/pci0000:00/virtio1/block/vda/device");
  link("../../devices/pci0000:00/virtio1/block/vda/vda1", "dev/block/254:1");
  const auto dev = block_device_of(254, 1, root_);
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->name, "vda1");
  EXPECT_EQ(dev->disk, "vda");
  EXPECT_EQ(dev->scheduler, "mq-deadline");
  EXPECT_EQ(dev->model, "virtio_blk");  // no device/model: the driver's name
  EXPECT_EQ(dev->read_ahead_kb, "8192");
  EXPECT_EQ(read_block_stat(dev->stat_path).ios, 9u);  // the partition's reads, not the disk's
}

TEST_F(FakeSysfs, ABioBasedDeviceHasNoScheduler) {
  disk("virtual/block/ram0", "none", false);
  link("../../devices/virtual/block/ram0", "dev/block/1:0");
  const auto dev = block_device_of(1, 0, root_);
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->name, "ram0");
  EXPECT_EQ(dev->disk, "ram0");
  EXPECT_EQ(dev->scheduler, "n/a");
  EXPECT_EQ(dev->model, "brd");
  EXPECT_TRUE(dev->counts_io);
  write("devices/virtual/block/ram0/queue/iostats", "0\n");  // brd accounts no I/O
  EXPECT_FALSE(block_device_of(1, 0, root_)->counts_io);
}

TEST_F(FakeSysfs, ABlkMqQueueWithoutAChoiceRunsWithNone) {
  disk("virtual/block/nullb0", "[none] mq-deadline", true, "512");
  link("../../devices/virtual/block/nullb0", "dev/block/252:0");
  auto dev = block_device_of(252, 0, root_);
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->scheduler, "none");
  EXPECT_EQ(dev->model, "null_blk");
  EXPECT_EQ(dev->read_ahead_kb, "512");
  write("devices/virtual/block/nullb0/queue/scheduler", "none\n");  // BLK_MQ_F_NO_SCHED
  dev = block_device_of(252, 0, root_);
  EXPECT_EQ(dev->scheduler, "none");
}

TEST_F(FakeSysfs, AScsiDiskNamesItsModelWithoutThePadding) {
  disk("pci0000:00/host0/target0:0:0/0:0:0:0/block/sda", "[bfq] none", true);
  write("devices/pci0000:00/host0/target0:0:0/0:0:0:0/model", "QEMU HARDDISK   \n");
  link("../../../0:0:0:0", "devices/pci0000:00/host0/target0:0:0/0:0:0:0/block/sda/device");
  link("../../devices/pci0000:00/host0/target0:0:0/0:0:0:0/block/sda", "dev/block/8:0");
  const auto dev = block_device_of(8, 0, root_);
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->model, "QEMU HARDDISK");
  EXPECT_EQ(dev->scheduler, "bfq");
}

TEST_F(FakeSysfs, AnAnonymousDeviceIsNoBlockDevice) {
  disk("virtual/block/ram0", "none", false);
  link("../../devices/virtual/block/ram0", "dev/block/1:0");
  EXPECT_FALSE(block_device_of(0, 27, root_));  // tmpfs and the like
  EXPECT_FALSE(block_device_of(1, 0, root_ + "/nowhere"));
}

TEST(BlockStat, ParsesTheReadFieldsOfAKernelStatLine) {
  // A whole 6.x line: 17 fields, right-aligned in columns.
  const BlockReads r = parse_block_stat(
      "   12345      678   901234     5678     1000       20     3000      400        0     6000     7000"
      "        0        0        0        0        5       60\n");
  EXPECT_EQ(r.ios, 12345u);
  EXPECT_EQ(r.merges, 678u);
  EXPECT_EQ(r.sectors, 901234u);
  EXPECT_EQ(r.ms, 5678u);
  const BlockReads d = r - BlockReads{12000, 600, 900000, 5000};
  EXPECT_EQ(d.ios, 345u);
  EXPECT_EQ(d.merges, 78u);
  EXPECT_EQ(d.sectors, 1234u);
  EXPECT_EQ(d.ms, 678u);
}

TEST(BlockStat, RefusesATruncatedLine) {
  EXPECT_THROW(parse_block_stat("1 2 3"), Error);
  EXPECT_THROW(parse_block_stat(""), Error);
  EXPECT_THROW(parse_block_stat("1 2 x 4"), Error);
}

TEST(BlockStat, ReadsTheRealDeviceUnderTheBuildTreeWhenThereIsOne) {
  struct stat st {};
  ASSERT_EQ(stat(READPATH_TEST_SCRATCH, &st), 0);
  const auto dev = block_device_of(major(st.st_dev), minor(st.st_dev));
  if (!dev) GTEST_SKIP() << "the build tree is not on a block device";
  EXPECT_FALSE(dev->name.empty());
  EXPECT_NE(dev->read_ahead_kb, "unknown");
  const BlockReads before = read_block_stat(dev->stat_path);
  EXPECT_GE(read_block_stat(dev->stat_path).ios, before.ios);  // counters only grow
}

TEST(SelectedScheduler, TakesTheBracketedName) {
  EXPECT_EQ(selected_scheduler("none [mq-deadline] kyber bfq"), "mq-deadline");
  EXPECT_EQ(selected_scheduler("[none] mq-deadline"), "none");
  EXPECT_EQ(selected_scheduler("none"), "");
  EXPECT_EQ(selected_scheduler(""), "");
}

}  // namespace
}  // namespace readpath
