// Exact instruction counts under QEMU TCG: readpath_bench marks the start and end of each
// timed pass with a marker instruction that tools/icount/readpath_icount.so (loaded by
// `readpath vm --icount`) sees, and asks it for the totals once per cell. The markers are
// `nopl DISP32(%rax)` with a magic displacement: no-ops anywhere, plugin or not.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace readpath {

// What the plugin counted on the reporting vCPU since its last report, over the closed
// brackets (begin … end) only.
struct InstructionCount {
  uint64_t kernel = 0, user = 0, brackets = 0;
};

// Opens a bracket on the vCPU that executes it.
inline void icount_begin() noexcept { asm volatile(".byte 0x0f, 0x1f, 0x80, 0x52, 0x50, 0x62, 0x30" ::: "memory"); }
// Closes the bracket open on this vCPU and adds what it executed inside to its totals.
inline void icount_end() noexcept { asm volatile(".byte 0x0f, 0x1f, 0x80, 0x52, 0x50, 0x65, 0x30" ::: "memory"); }

// The plugin's answer file, as this guest sees it ($READPATH_ICOUNT, which `readpath vm
// --icount` sets). Only meaningful on x86-64 under QEMU with the plugin loaded.
class InstructionCounter {
 public:
  explicit InstructionCounter(std::string path) : path_(std::move(path)) {}
  // From $READPATH_ICOUNT; nullopt when it is unset or empty.
  static std::optional<InstructionCounter> from_environment();
  // The totals of this vCPU since its last report, which clears them. The caller must stay
  // on one CPU from its brackets to here. Throws readpath::Error when no plugin answers
  // (the file is removed first, so an old answer is never read).
  InstructionCount report() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Parses the plugin's line `kernel K user U brackets N vcpu V`; throws readpath::Error.
InstructionCount parse_icount_line(const std::string& line);

}  // namespace readpath
