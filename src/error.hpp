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
  explicit Error(const std::string& what, int err = 0) : std::runtime_error(what), err_(err) {}
  // The errno of the failed call, or 0 for a broken invariant.
  int err() const { return err_; }

 private:
  int err_ = 0;
};

// "<call>: <strerror(err)>", the one shape every failed call is reported in.
inline Error sys_error(const std::string& call, int err = errno) {
  return Error(call + ": " + std::strerror(err), err);
}

}  // namespace readpath
