// The guest side of instruction counting, on a host: markers are no-ops, and without the
// QEMU plugin a report fails instead of reading zeros.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "error.hpp"
#include "icount.hpp"

namespace readpath {
namespace {

TEST(Icount, ParsesThePluginsLine) {
  const InstructionCount c = parse_icount_line("kernel 5708 user 47 brackets 3 vcpu 1");
  EXPECT_EQ(c.kernel, 5708u);
  EXPECT_EQ(c.user, 47u);
  EXPECT_EQ(c.brackets, 3u);
}

TEST(Icount, ReadsTheInterruptsWhenThePluginCountsThemApart) {
  EXPECT_FALSE(parse_icount_line("kernel 5708 user 47 brackets 3 vcpu 1").interrupts);
  const InstructionCount c = parse_icount_line("kernel 5708 user 47 brackets 3 vcpu 1 interrupts 912");
  EXPECT_EQ(c.kernel, 5708u);
  EXPECT_EQ(c.interrupts, std::optional<uint64_t>(912));
}

TEST(Icount, RefusesAnyOtherLine) {
  EXPECT_THROW(parse_icount_line(""), Error);
  EXPECT_THROW(parse_icount_line("kernel 1 user x brackets 1"), Error);
  EXPECT_THROW(parse_icount_line("user 1 kernel 2 brackets 1"), Error);
}

TEST(Icount, MarkersAreNoOpsAndAReportWithoutThePluginFails) {
  icount_begin();
  icount_end();
  const std::string path = std::string(READPATH_TEST_SCRATCH) + "/icount-answer";
  std::ofstream(path) << "kernel 1 user 1 brackets 1 vcpu 0\n";  // an old answer is never read
  EXPECT_THROW(InstructionCounter(path).report(), Error);
}

TEST(Icount, ParsesThePluginsBlocks) {
  const auto blocks = parse_icount_blocks("ffffffff81234560 12\nffffffffc0a01000 7\n");
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0], (std::pair<uint64_t, uint64_t>{0xffffffff81234560ULL, 12}));
  EXPECT_EQ(blocks[1], (std::pair<uint64_t, uint64_t>{0xffffffffc0a01000ULL, 7}));
  EXPECT_TRUE(parse_icount_blocks("").empty());
  EXPECT_THROW(parse_icount_blocks("ffffffff81234560\n"), Error);
  EXPECT_THROW(parse_icount_blocks("ffffffff81234560 12 extra\n"), Error);
  EXPECT_THROW(parse_icount_blocks("kernel 1 user 2\n"), Error);
}

// /proc/kallsyms as root sees it: functions (t/T), data (d/D/b/r) and a module's symbols.
const char* const kKallsyms =
    "ffffffff81000000 T _stext\n"
    "ffffffff81234500 T filemap_read\n"
    "ffffffff81234900 t filemap_get_read_batch\n"
    "ffffffff81300000 D some_data\n"
    "ffffffffc0a01000 t myfs_read_iter\t[myfs]\n"
    "ffffffffc0a01400 T myfs_fill_synthetic\t[myfs]\n";

TEST(Icount, NamesABlockByTheFunctionAtOrBelowIt) {
  const KernelSymbols symbols(kKallsyms);
  EXPECT_EQ(symbols.size(), 5u);  // not the data symbol
  EXPECT_EQ(symbols.function_of(0xffffffff81234500ULL), "filemap_read");
  EXPECT_EQ(symbols.function_of(0xffffffff812348ffULL), "filemap_read");
  EXPECT_EQ(symbols.function_of(0xffffffff81234900ULL), "filemap_get_read_batch");
  EXPECT_EQ(symbols.function_of(0xffffffff81300010ULL), "filemap_get_read_batch");  // data is no function
  EXPECT_EQ(symbols.function_of(0xffffffffc0a01010ULL), "myfs_read_iter [myfs]");
  EXPECT_EQ(symbols.function_of(0xffffffff80000000ULL), "?");
  const auto functions = symbols.attribute({{0xffffffff81234510ULL, 30}, {0xffffffff81234600ULL, 12},
                                            {0xffffffffc0a01400ULL, 5}, {0x1000, 2}});
  EXPECT_EQ(functions, (std::map<std::string, uint64_t>{
                           {"filemap_read", 42}, {"myfs_fill_synthetic [myfs]", 5}, {"?", 2}}));
}

TEST(Icount, FindsTheInterruptEntryPoints) {
  const KernelSymbols symbols(
      "ffffffff81000300 T irq_entries_start\n"
      "ffffffff81000d40 T asm_common_interrupt\n"
      "ffffffff81000df0 T asm_sysvec_apic_timer_interrupt\n"
      "ffffffff81000e90 T asm_sysvec_call_function\n"
      "ffffffff81000f00 T asm_exc_page_fault\n"
      "ffffffff81001000 T sysvec_apic_timer_interrupt\n");
  EXPECT_EQ(symbols.interrupt_entries(),
            (std::vector<uint64_t>{0xffffffff81000d40ULL, 0xffffffff81000df0ULL, 0xffffffff81000e90ULL}));
}

TEST(Icount, AnUnprivilegedKallsymsNamesNothing) {
  EXPECT_TRUE(KernelSymbols("0000000000000000 T _stext\n0000000000000000 t filemap_read\n").empty());
}

TEST(Icount, TheFunctionLogKeepsACellsLastCall) {
  FunctionLog log;
  EXPECT_TRUE(log.empty());
  log.keep("read/io:4096", 256, 1000, {{"filemap_read", 1000}});   // sizing the iteration count
  log.keep("pread/io:4096", 256, 900, {{"filemap_read", 600}, {"a \"quoted\" name", 300}});
  log.keep("read/io:4096", 2560, 10000, {{"filemap_read", 9000}, {"vfs_read", 1000}});
  EXPECT_EQ(log.json(),
            "{\"cells\": {\n"
            "\"read/io:4096\": {\"requests\": 2560, \"kernel_instructions\": 10000, \"functions\": "
            "{\"filemap_read\": 9000, \"vfs_read\": 1000}},\n"
            "\"pread/io:4096\": {\"requests\": 256, \"kernel_instructions\": 900, \"functions\": "
            "{\"a \\\"quoted\\\" name\": 300, \"filemap_read\": 600}}\n"
            "}}\n");
}

TEST(Icount, OffWithoutTheEnvironmentVariable) {
  unsetenv("READPATH_ICOUNT");
  EXPECT_FALSE(InstructionCounter::from_environment());
  setenv("READPATH_ICOUNT", "", 1);
  EXPECT_FALSE(InstructionCounter::from_environment());
  unsetenv("READPATH_ICOUNT");
}

}  // namespace
}  // namespace readpath
