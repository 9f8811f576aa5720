// The guest side of instruction counting: the report marker and reading the plugin's answer.
#include "icount.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "error.hpp"

namespace readpath {

namespace {
// Writes this vCPU's totals to the answer file (the plugin runs before the next instruction).
inline void icount_report_marker() noexcept {
  asm volatile(".byte 0x0f, 0x1f, 0x80, 0x52, 0x50, 0x72, 0x30" ::: "memory");
}
}  // namespace

std::optional<InstructionCounter> InstructionCounter::from_environment() {
  const char* path = std::getenv("READPATH_ICOUNT");
  if (path == nullptr || *path == '\0') return std::nullopt;
  return InstructionCounter(path);
}

InstructionCount parse_icount_line(const std::string& line) {
  std::istringstream in(line);
  std::string k, u, b;
  InstructionCount count;
  if (!(in >> k >> count.kernel >> u >> count.user >> b >> count.brackets) || k != "kernel" || u != "user" ||
      b != "brackets")
    throw Error("instruction counter: unreadable answer '" + line + "'");
  return count;
}

InstructionCount InstructionCounter::report() const {
  if (unlink(path_.c_str()) != 0 && errno != ENOENT) throw sys_error("unlink " + path_);
  icount_report_marker();
  std::ifstream in(path_);
  std::string line;
  if (!in || !std::getline(in, line))
    throw Error("instruction counter: no answer in " + path_ + " (is QEMU running the readpath_icount plugin?)");
  return parse_icount_line(line);
}

}  // namespace readpath
