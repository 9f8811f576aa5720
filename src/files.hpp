// The files readpath_bench reads: created with the contracts' content, and removed again
// on every way out (normal exit, error exit, SIGINT, SIGTERM, SIGHUP).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace readpath {

// Installs handlers that remove every tracked path and then die of the same signal.
void install_cleanup_handlers();
// One more step for those handlers, run before the paths are removed; it must be
// async-signal-safe (readpath_bench: switch myfs counting back on).
void set_signal_cleanup(void (*cleanup)());
// Paths to remove at exit; directories are removed after the files, newest first.
void track_path(const std::string& path, bool is_directory);
void untrack_path(const std::string& path);
// Removes every tracked path now (also used by the signal handler; async-signal-safe).
void remove_tracked_paths();

// Where a run without --dir makes its fresh directory: the first candidate that is a
// writable tmpfs (the page cache alone, no device under it); when none is, the first that is
// a writable directory at all. `note` is empty for the first candidate on tmpfs, else one
// sentence naming what the first candidate was and what was taken instead.
struct ScratchParent {
  std::string path;
  std::string fstype;
  std::string note;
};
ScratchParent default_scratch_parent(const std::vector<std::string>& candidates = {"/dev/shm", "/run/shm", "/tmp",
                                                                                      "/var/tmp", "/run"});

// Creates a fresh directory "readpath-XXXXXX" under parent, tracked for removal.
std::string make_fresh_dir(const std::string& parent);

struct PreparedFile {
  std::string path;
  uint64_t ino = 0;
  uint64_t size = 0;
};

// Creates path (replacing nothing: it must not exist) holding size bytes. With synthetic
// (a myfs -o synthetic mount) the file is only sized with ftruncate and myfs makes the
// content; otherwise the content function's bytes are written, then fsync'ed so that the
// pages are clean and can be evicted. Checks free space first. The path is tracked for
// removal; throws readpath::Error (and removes the partial file) on failure.
PreparedFile prepare_file(const std::string& path, uint64_t size, bool synthetic);

// The name of the file readpath_bench reads for a file size on a myfs block mount (and
// that tools/mkfs.myfs --engine-sizes writes): "readpath-<size>.dat" with the engine's size
// spelling, format_size (4096 → "readpath-4K.dat", 1 MiB → "readpath-1M.dat").
std::string image_file_name(uint64_t size);

// The file image_file_name(size) in dir, as a myfs block image holds it (never created,
// written, tracked or removed): nullopt when there is none; throws readpath::Error when it
// is there but not a regular file of exactly size bytes.
std::optional<PreparedFile> find_image_file(const std::string& dir, uint64_t size);

// Removes a prepared file and stops tracking it.
void remove_file(const PreparedFile& file);

// Writes text to path atomically: a temporary file beside it (removed on a signal), renamed
// over it. Throws readpath::Error.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace readpath
