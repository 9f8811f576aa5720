// Generating and checking synthetic content a word at a time (the bytes are little-endian
// words, and x86-64 and aarch64 are little-endian, so whole words compare directly).
#include "content.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "error.hpp"

namespace readpath {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "content words are little-endian");

void content_fill(uint64_t ino, uint64_t offset, void* buf, size_t len) {
  auto* out = static_cast<unsigned char*>(buf);
  while (len > 0 && offset % 8 != 0) {
    *out++ = content_byte(ino, offset++);
    --len;
  }
  for (; len >= 8; len -= 8, out += 8, offset += 8) {
    const uint64_t w = content_word(ino, offset / 8);
    std::memcpy(out, &w, 8);
  }
  for (; len > 0; --len) *out++ = content_byte(ino, offset++);
}

[[noreturn]] static void mismatch(uint64_t ino, uint64_t offset, unsigned got) {
  char msg[160];
  std::snprintf(msg, sizeof msg,
                "content mismatch in inode %" PRIu64 " at offset %" PRIu64
                ": expected 0x%02x, read 0x%02x",
                ino, offset, content_byte(ino, offset), got);
  throw Error(msg);
}

void content_check(uint64_t ino, uint64_t offset, const void* data, size_t len) {
  const auto* in = static_cast<const unsigned char*>(data);
  const uint64_t end = offset + len;
  uint64_t off = offset;
  while (off < end && off % 8 != 0) {
    if (in[off - offset] != content_byte(ino, off)) mismatch(ino, off, in[off - offset]);
    ++off;
  }
  for (; end - off >= 8; off += 8) {
    uint64_t w;
    std::memcpy(&w, in + (off - offset), 8);
    if (w != content_word(ino, off / 8)) {
      for (uint64_t b = off;; ++b)
        if (in[b - offset] != content_byte(ino, b)) mismatch(ino, b, in[b - offset]);
    }
  }
  for (; off < end; ++off)
    if (in[off - offset] != content_byte(ino, off)) mismatch(ino, off, in[off - offset]);
}

}  // namespace readpath
