// Exact instruction counts under QEMU TCG: readpath_bench marks the start and end of each
// timed pass with a marker instruction that tools/icount/readpath_icount.so (loaded by
// `readpath vm --icount`) sees, and asks it for the totals once per cell. The markers are
// `nopl DISP32(%rax)` with a magic displacement: no-ops anywhere, plugin or not.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace readpath {

// What the plugin counted on the reporting vCPU since its last report, over the closed
// brackets (begin … end) only; and the kernel part by translation block (its first
// instruction's address, its instructions), when the plugin writes them.
struct InstructionCount {
  uint64_t kernel = 0, user = 0, brackets = 0;
  // Executed inside interrupts (counted apart once the plugin has the entry points; else
  // they are in kernel and user, and this is nullopt).
  std::optional<uint64_t> interrupts;
  std::vector<std::pair<uint64_t, uint64_t>> kernel_blocks;
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
  // Hands the plugin the kernel's interrupt entry points (written to PATH.irq), so that
  // what runs in interrupts is counted apart; the plugin reads them once per boot.
  void set_interrupt_entries(const std::vector<uint64_t>& addresses) const;
  // The totals of this vCPU since its last report, which clears them. The caller must stay
  // on one CPU from its brackets to here. Throws readpath::Error when no plugin answers
  // (the file is removed first, so an old answer is never read).
  InstructionCount report() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Parses the plugin's line `kernel K user U brackets N vcpu V [interrupts I]`; throws
// readpath::Error.
InstructionCount parse_icount_line(const std::string& line);

// Parses the plugin's OUT.blocks: a line `ADDRESS INSTRUCTIONS` (hex, decimal) per kernel
// block; throws readpath::Error on any other line.
std::vector<std::pair<uint64_t, uint64_t>> parse_icount_blocks(const std::string& text);

// The kernel's functions by address, from /proc/kallsyms text (`ADDRESS TYPE NAME [MODULE]`):
// its text symbols, a module's named `name [module]`. Unprivileged readers see every
// address as 0: then empty().
class KernelSymbols {
 public:
  explicit KernelSymbols(const std::string& kallsyms_text);
  static KernelSymbols from_proc();  // /proc/kallsyms; throws readpath::Error
  bool empty() const { return symbols_.empty(); }
  size_t size() const { return symbols_.size(); }
  // The function holding address: the text symbol at or below it; "?" below the first.
  const std::string& function_of(uint64_t address) const;
  // The interrupt entry points: asm_sysvec_* (timer, IPIs), asm_common_interrupt (devices),
  // asm_spurious_interrupt.
  std::vector<uint64_t> interrupt_entries() const;
  // Instructions by function: each block's go to the function of its first instruction.
  std::map<std::string, uint64_t> attribute(const std::vector<std::pair<uint64_t, uint64_t>>& blocks) const;

 private:
  std::vector<std::pair<uint64_t, std::string>> symbols_;  // sorted by address
};

// The kernel instructions of each cell's timed passes by function, for the sidecar file
// FILE.functions.json beside the results FILE (docs/contracts.md). A cell's body runs more
// than once (Google Benchmark sizes its iteration count first); the counts are per request,
// the same whichever call, so the last call's stand for the cell.
class FunctionLog {
 public:
  void keep(const std::string& cell, uint64_t requests, uint64_t kernel_instructions,
            std::map<std::string, uint64_t> functions);
  bool empty();
  // {"cells": {"<cell>": {"requests": R, "kernel_instructions": K, "functions": {"<name>": N,
  // ...}}, ...}}: totals over the call's timed passes, every function with any.
  std::string json();
  // Writes json() to path atomically (a temporary file beside it, renamed). Throws.
  void write(const std::string& path);

 private:
  struct Cell {
    uint64_t requests, kernel_instructions;
    std::map<std::string, uint64_t> functions;
  };
  std::mutex mutex_;
  std::vector<std::pair<std::string, Cell>> cells_;  // in the order they first ran
};

}  // namespace readpath
