// The synthetic content function of docs/contracts.md: a file's bytes are a pure function
// of its inode number and the byte offset, so every reader's output can be checked.
#pragma once

#include <cstddef>
#include <cstdint>

namespace readpath {

constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The k-th little-endian 64-bit word of the file with inode `ino`.
constexpr uint64_t content_word(uint64_t ino, uint64_t k) {
  return mix64(ino * 0x9E3779B97F4A7C15ull + k);
}

constexpr uint8_t content_byte(uint64_t ino, uint64_t offset) {
  return static_cast<uint8_t>(content_word(ino, offset / 8) >> (8 * (offset % 8)));
}

// Writes the content of bytes [offset, offset + len) of file `ino` into buf.
void content_fill(uint64_t ino, uint64_t offset, void* buf, size_t len);

// Checks data against the content of bytes [offset, offset + len) of file `ino`;
// throws readpath::Error naming the first differing offset and both values.
void content_check(uint64_t ino, uint64_t offset, const void* data, size_t len);

}  // namespace readpath
