// The guest side of instruction counting: the report marker, reading the plugin's answer,
// and naming the kernel blocks' functions.
#include "icount.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

#include "error.hpp"
#include "files.hpp"
#include "reader.hpp"

namespace readpath {

namespace {
// Writes this vCPU's totals to the answer file (the plugin runs before the next instruction).
inline void icount_report_marker() noexcept {
  asm volatile(".byte 0x0f, 0x1f, 0x80, 0x52, 0x50, 0x72, 0x30" ::: "memory");
}
// Has the plugin read the interrupt entry points from the answer file's PATH.irq.
inline void icount_irqs_marker() noexcept {
  asm volatile(".byte 0x0f, 0x1f, 0x80, 0x52, 0x50, 0x69, 0x30" ::: "memory");
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
  std::string v, i;
  unsigned vcpu = 0;
  uint64_t interrupts = 0;
  if (in >> v >> vcpu && v == "vcpu" && in >> i >> interrupts && i == "interrupts") count.interrupts = interrupts;
  return count;
}

std::vector<std::pair<uint64_t, uint64_t>> parse_icount_blocks(const std::string& text) {
  std::vector<std::pair<uint64_t, uint64_t>> blocks;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    uint64_t address = 0, instructions = 0;
    std::string rest;
    if (!(fields >> std::hex >> address >> std::dec >> instructions) || (fields >> rest))
      throw Error("instruction counter: unreadable block line '" + line + "'");
    blocks.emplace_back(address, instructions);
  }
  return blocks;
}

namespace {
std::string read_whole(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw sys_error("open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

void InstructionCounter::set_interrupt_entries(const std::vector<uint64_t>& addresses) const {
  std::string text;
  char line[32];
  for (uint64_t address : addresses) {
    std::snprintf(line, sizeof line, "%llx\n", static_cast<unsigned long long>(address));
    text += line;
  }
  write_file_atomically(path_ + ".irq", text);
  icount_irqs_marker();
}

InstructionCount InstructionCounter::report() const {
  const std::string blocks = path_ + ".blocks";
  for (const std::string& old : {path_, blocks})
    if (unlink(old.c_str()) != 0 && errno != ENOENT) throw sys_error("unlink " + old);
  icount_report_marker();
  std::ifstream in(path_);
  std::string line;
  if (!in || !std::getline(in, line))
    throw Error("instruction counter: no answer in " + path_ + " (is QEMU running the readpath_icount plugin?)");
  InstructionCount count = parse_icount_line(line);
  // The plugin writes the blocks before the totals; one that writes none leaves it absent.
  if (access(blocks.c_str(), F_OK) == 0) count.kernel_blocks = parse_icount_blocks(read_whole(blocks));
  return count;
}

KernelSymbols::KernelSymbols(const std::string& kallsyms_text) {
  // By hand rather than with streams: a kernel has 100k-170k symbols, and under TCG every
  // instruction of this loop is emulated.
  std::string_view text(kallsyms_text);
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    // ADDRESS TYPE NAME[\t[MODULE]]
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || space + 3 > line.size() || line[space + 2] != ' ') continue;
    const char type = line[space + 1];
    if (type != 't' && type != 'T') continue;  // functions only
    uint64_t address = 0;
    bool hex = space > 0;
    for (char c : line.substr(0, space)) {
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) hex = false;
      address = address * 16 + static_cast<uint64_t>(digit < 0 ? 0 : digit);
    }
    if (!hex || address == 0) continue;
    std::string_view rest = line.substr(space + 3);
    const size_t tab = rest.find('\t');
    std::string name(rest.substr(0, tab));
    if (tab != std::string_view::npos) name.append(" ").append(rest.substr(tab + 1));  // "name [myfs]"
    symbols_.emplace_back(address, std::move(name));
  }
  std::stable_sort(symbols_.begin(), symbols_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
}

KernelSymbols KernelSymbols::from_proc() { return KernelSymbols(read_whole("/proc/kallsyms")); }

const std::string& KernelSymbols::function_of(uint64_t address) const {
  static const std::string unknown = "?";
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const auto& symbol) { return a < symbol.first; });
  return it == symbols_.begin() ? unknown : std::prev(it)->second;
}

std::vector<uint64_t> KernelSymbols::interrupt_entries() const {
  std::vector<uint64_t> entries;
  for (const auto& [address, name] : symbols_)
    if (name.rfind("asm_sysvec_", 0) == 0 || name == "asm_common_interrupt" || name == "asm_spurious_interrupt")
      entries.push_back(address);
  return entries;
}

std::map<std::string, uint64_t> KernelSymbols::attribute(
    const std::vector<std::pair<uint64_t, uint64_t>>& blocks) const {
  std::map<std::string, uint64_t> functions;
  for (const auto& [address, instructions] : blocks) functions[function_of(address)] += instructions;
  return functions;
}

void FunctionLog::keep(const std::string& cell, uint64_t requests, uint64_t kernel_instructions,
                       std::map<std::string, uint64_t> functions) {
  std::lock_guard lock(mutex_);
  Cell kept{requests, kernel_instructions, std::move(functions)};
  for (auto& [name, old] : cells_)
    if (name == cell) {
      old = std::move(kept);
      return;
    }
  cells_.emplace_back(cell, std::move(kept));
}

bool FunctionLog::empty() {
  std::lock_guard lock(mutex_);
  return cells_.empty();
}

std::string FunctionLog::json() {
  std::lock_guard lock(mutex_);
  std::string out = "{\"cells\": {";
  for (size_t c = 0; c < cells_.size(); ++c) {
    const Cell& cell = cells_[c].second;
    out += (c ? ",\n" : "\n") + json_string(cells_[c].first) + ": {\"requests\": " + std::to_string(cell.requests) +
           ", \"kernel_instructions\": " + std::to_string(cell.kernel_instructions) + ", \"functions\": {";
    bool first = true;
    for (const auto& [name, instructions] : cell.functions) {
      out += (first ? "" : ", ") + json_string(name) + ": " + std::to_string(instructions);
      first = false;
    }
    out += "}}";
  }
  return out + "\n}}\n";
}

void FunctionLog::write(const std::string& path) { write_file_atomically(path, json()); }

}  // namespace readpath
