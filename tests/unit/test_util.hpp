// Shared helpers for the unit tests: scratch directories removed after each test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "files.hpp"

namespace readpath::test {

// A fresh directory under parent (default: the build tree's own filesystem, which is
// usually a disk filesystem that can evict; /dev/shm is tmpfs, which cannot).
inline std::string scratch_dir(const std::string& parent = READPATH_TEST_SCRATCH) {
  return make_fresh_dir(parent);
}

}  // namespace readpath::test
