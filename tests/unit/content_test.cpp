// The content function against docs/contracts.md, written out independently here.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "content.hpp"
#include "error.hpp"

namespace readpath {
namespace {

uint64_t reference_byte(uint64_t ino, uint64_t off) {
  uint64_t z = ino * 0x9E3779B97F4A7C15ull + off / 8;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z = z ^ (z >> 31);
  return (z >> (8 * (off % 8))) & 0xff;
}

TEST(Content, ByteMatchesTheContract) {
  for (uint64_t ino : {1ull, 12ull, 123456789ull})
    for (uint64_t off = 0; off < 64; ++off) EXPECT_EQ(content_byte(ino, off), reference_byte(ino, off));
}

TEST(Content, FillMatchesBytesAtUnalignedOffsetsAndLengths) {
  std::vector<unsigned char> buf(100);
  for (uint64_t start : {0ull, 1ull, 7ull, 8ull, 4093ull}) {
    content_fill(42, start, buf.data(), buf.size() - 3);
    for (size_t i = 0; i < buf.size() - 3; ++i) ASSERT_EQ(buf[i], content_byte(42, start + i)) << start << "+" << i;
  }
}

TEST(Content, CheckAcceptsTheContent) {
  std::vector<unsigned char> buf(4096 + 5);
  content_fill(7, 3, buf.data(), buf.size());
  EXPECT_NO_THROW(content_check(7, 3, buf.data(), buf.size()));
}

TEST(Content, CheckNamesTheFirstWrongOffset) {
  std::vector<unsigned char> buf(4096);
  content_fill(7, 8192, buf.data(), buf.size());
  buf[1234] ^= 0x40;
  try {
    content_check(7, 8192, buf.data(), buf.size());
    FAIL() << "a flipped bit went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("offset 9426"), std::string::npos) << e.what();
  }
}

TEST(Content, CheckRejectsAnotherInodesContent) {
  std::vector<unsigned char> buf(64);
  content_fill(8, 0, buf.data(), buf.size());
  EXPECT_THROW(content_check(7, 0, buf.data(), buf.size()), Error);
}

}  // namespace
}  // namespace readpath
