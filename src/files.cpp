// File preparation and the removal registry. The registry is a fixed array so that the
// signal handler only calls async-signal-safe functions (unlink, rmdir, raise).
#include "files.hpp"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

#include "content.hpp"
#include "environment.hpp"
#include "error.hpp"
#include "mounts.hpp"
#include "reader.hpp"

namespace readpath {
namespace {

struct Tracked {
  std::atomic<bool> used{false};
  bool is_directory = false;
  char path[PATH_MAX] = {};
};

constexpr int kMaxTracked = 64;
Tracked g_tracked[kMaxTracked];
std::mutex g_track_mutex;

std::atomic<void (*)()> g_signal_cleanup{nullptr};

void on_signal(int sig) {
  if (void (*cleanup)() = g_signal_cleanup.load()) cleanup();
  remove_tracked_paths();
  signal(sig, SIG_DFL);
  raise(sig);
}

std::string human(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

void install_cleanup_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  static bool registered = false;
  if (!registered) {
    std::atexit(remove_tracked_paths);
    registered = true;
  }
}

void set_signal_cleanup(void (*cleanup)()) { g_signal_cleanup.store(cleanup); }

void track_path(const std::string& path, bool is_directory) {
  if (path.size() >= PATH_MAX) throw Error("path too long: " + path);
  std::lock_guard lock(g_track_mutex);
  for (auto& t : g_tracked) {
    if (t.used.load()) continue;
    std::memcpy(t.path, path.c_str(), path.size() + 1);
    t.is_directory = is_directory;
    t.used.store(true);
    return;
  }
  throw Error("too many files to track for removal");
}

void untrack_path(const std::string& path) {
  std::lock_guard lock(g_track_mutex);
  for (auto& t : g_tracked)
    if (t.used.load() && path == t.path) t.used.store(false);
}

void remove_tracked_paths() {
  for (auto& t : g_tracked)
    if (t.used.load() && !t.is_directory) unlink(t.path), t.used.store(false);
  for (int i = kMaxTracked; i-- > 0;)
    if (g_tracked[i].used.load()) rmdir(g_tracked[i].path), g_tracked[i].used.store(false);
}

namespace {

// A directory this process may create files in: "" if so, else why not.
std::string unusable_dir(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "not a directory";
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) return "read-only";
  if (access(dir.c_str(), W_OK | X_OK) != 0) return std::string("not writable: ") + std::strerror(errno);
  return "";
}

}  // namespace

ScratchParent default_scratch_parent(const std::vector<std::string>& candidates) {
  if (candidates.empty()) throw Error("no scratch directory to choose from");
  std::optional<ScratchParent> tmpfs, fallback;  // fallback: the first writable one, whatever it is
  for (const std::string& dir : candidates) {
    if (!unusable_dir(dir).empty()) continue;
    ScratchParent found{dir, mount_of(dir).fstype, ""};
    if (found.fstype == "tmpfs") {
      tmpfs = found;
      break;
    }
    if (!fallback) fallback = found;
  }
  ScratchParent chosen;
  if (tmpfs) chosen = *tmpfs;
  else if (fallback) chosen = *fallback;
  else throw Error("none of " + std::to_string(candidates.size()) + " scratch directories (" + candidates.front() +
                   " first) is writable; give one with --dir");
  const std::string& first = candidates.front();
  if (chosen.path == first && tmpfs) return chosen;
  const std::string why_not = unusable_dir(first);
  const std::string first_is = why_not.empty() ? " is " + mount_of(first).fstype + ", not tmpfs" : ": " + why_not;
  chosen.note = first + first_is + (tmpfs ? "; timing under " + chosen.path + " (tmpfs) instead"
                                          : "; no writable tmpfs either, so timing under " + chosen.path + " (" +
                                                chosen.fstype + ")");
  return chosen;
}

std::string make_fresh_dir(const std::string& parent) {
  std::string tmpl = parent + "/readpath-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw sys_error("mkdtemp " + tmpl);
  track_path(tmpl, true);
  return tmpl;
}

PreparedFile prepare_file(const std::string& path, uint64_t size, bool synthetic) {
  PreparedFile file{path, 0, size};
  const std::string dir = path.substr(0, path.find_last_of('/'));
  struct statvfs vfs {};
  if (!synthetic && statvfs(dir.c_str(), &vfs) == 0) {
    // A filesystem that reports no size at all (ramfs, myfs without `synthetic`) keeps its
    // files in memory, as much as there is: that is what must hold the file.
    const bool sized = vfs.f_blocks != 0;
    const uint64_t avail = sized ? static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize : memory_available();
    if (avail < size)
      throw Error(dir + " has " + human(avail) + (sized ? " free" : " of memory available (it reports no size)") +
                  "; a " + human(size) + " file does not fit (use --dir elsewhere or smaller --file-sizes)");
  }
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw sys_error("open " + path);
  track_path(path, false);
  auto fail = [&](const std::string& call, int err) {
    close(fd);
    unlink(path.c_str());
    untrack_path(path);
    return sys_error(call, err);
  };
  struct stat st {};
  if (fstat(fd, &st) != 0) throw fail("fstat", errno);
  file.ino = st.st_ino;  // the content depends on it, so it is known only now
  if (synthetic) {
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) throw fail("ftruncate", errno);
  } else {
    Buffer chunk(1 << 20);
    for (uint64_t off = 0; off < size;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), size - off));
      content_fill(file.ino, off, chunk.data(), n);
      const ssize_t w = pwrite(fd, chunk.data(), n, static_cast<off_t>(off));
      if (w < 0) throw fail("pwrite " + path, errno);
      if (w == 0) throw fail("pwrite " + path, ENOSPC);
      off += static_cast<uint64_t>(w);
    }
    if (fsync(fd) != 0) throw fail("fsync " + path, errno);
  }
  if (close(fd) != 0) {
    const int err = errno;
    unlink(path.c_str());
    untrack_path(path);
    throw sys_error("close " + path, err);
  }
  return file;
}

std::string image_file_name(uint64_t size) { return "readpath-" + format_size(size) + ".dat"; }

std::optional<PreparedFile> find_image_file(const std::string& dir, uint64_t size) {
  const std::string path = dir + "/" + image_file_name(size);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw sys_error("stat " + path);
  }
  if (!S_ISREG(st.st_mode)) throw Error(path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) != size)
    throw Error(path + " has " + std::to_string(st.st_size) + " bytes, not " + std::to_string(size));
  return PreparedFile{path, st.st_ino, size};
}

void remove_file(const PreparedFile& file) {
  unlink(file.path.c_str());
  untrack_path(file.path);
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp-" + std::to_string(getpid());
  track_path(temporary, false);  // a signal meanwhile removes it
  const auto give_up = [&](const std::string& call, int err) {
    unlink(temporary.c_str());
    untrack_path(temporary);
    return sys_error(call, err);
  };
  std::FILE* f = std::fopen(temporary.c_str(), "w");
  if (f == nullptr) throw give_up("open " + temporary, errno);
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const int write_err = errno;
  if (std::fclose(f) != 0 || !written) throw give_up("write " + temporary, written ? errno : write_err);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) throw give_up("rename " + temporary + " to " + path, errno);
  untrack_path(temporary);
}

}  // namespace readpath
