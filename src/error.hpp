// Errors from the readers and helpers: one exception type carrying "<call>: <strerror>".
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace readpath {

// Raised for any failed system call or broken invariant; the message is meant for users.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "<call>: <strerror(err)>", the one shape every failed call is reported in.
inline Error sys_error(const std::string& call, int err = errno) {
  return Error(call + ": " + std::strerror(err));
}

}  // namespace readpath
