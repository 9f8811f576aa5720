// mkfs.myfs: writes a myfs block-mode image (docs/contracts.md, "On-disk layout") to a block
// device or a regular file. Each file's bytes are the content function of its inode number
// (content_fill); --engine-sizes adds the files readpath_bench reads on a myfs block mount,
// named as the engine names them (image_file_name).
//
//   mkfs.myfs TARGET [NAME=SIZE ...] [--engine-sizes S1,S2,...]
//
// Exit status: 0 done, 1 the device or file could not be written, 2 bad arguments or a
// target that cannot hold the image.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "content.hpp"
#include "environment.hpp"
#include "error.hpp"
#include "files.hpp"

namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint32_t kEntrySize = 64;
constexpr uint32_t kEntriesPerBlock = kBlock / kEntrySize;
constexpr size_t kNameLen = 40;              // with its terminating NUL
constexpr uint32_t kMaxFiles = 1u << 20;     // what myfs mounts (kmod/myfs.h MYFS_MAX_FILES)
constexpr char kMagic[8] = {'m', 'y', 'f', 's', 'b', 'l', 'k', '1'};

const char kUsage[] =
    "usage: mkfs.myfs TARGET [NAME=SIZE ...] [--engine-sizes S1,S2,...]\n"
    "\n"
    "Writes a myfs image (docs/contracts.md, \"On-disk layout\") to TARGET, a block device\n"
    "(which must be large enough; it is opened exclusively, so not while mounted) or a\n"
    "regular file (created, or resized to the image's size). Mount it with\n"
    "`mount -t myfs /dev/X MNT`.\n"
    "\n"
    "  NAME=SIZE            a file NAME (1-39 bytes, no '/') of SIZE bytes; sizes take\n"
    "                       K, M or G suffixes (binary: 4K = 4096)\n"
    "  --engine-sizes LIST  also the files readpath_bench reads on a myfs block mount,\n"
    "                       readpath-<size>.dat, one per size (e.g. 4K,1M,16M)\n"
    "  -h, --help           this text\n"
    "\n"
    "Files are laid out in argument order, NAME=SIZE ones first; inode numbers are 2, 3, ...\n"
    "in that order, and each file's bytes are the content function of its inode number.\n"
    "Prints one line per file: name size ino start_block.\n"
    "Exit status: 0 done, 1 writing failed, 2 bad arguments or a target too small.\n";

// Bad arguments or a target that cannot take the image: exit 2.
struct UsageError {
  std::string message;
};

struct File {
  std::string name;
  uint64_t size = 0;
  uint64_t ino = 0;
  uint64_t start = 0;
  uint64_t blocks() const { return (size + kBlock - 1) / kBlock; }
};

void put32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

void put64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

uint64_t size_arg(std::string_view what, std::string_view text) {
  try {
    return readpath::parse_size(text);
  } catch (const readpath::Error& e) {
    throw UsageError{std::string(what) + ": " + e.what()};
  }
}

void check_name(const std::string& name, const std::set<std::string>& seen) {
  if (name.empty()) throw UsageError{"a file name is empty (NAME=SIZE)"};
  if (name.size() >= kNameLen)
    throw UsageError{"file name " + name + " is " + std::to_string(name.size()) +
                     " bytes; at most " + std::to_string(kNameLen - 1)};
  if (name.find('/') != std::string::npos) throw UsageError{"file name " + name + " contains '/'"};
  if (name == "." || name == "..") throw UsageError{"file name " + name + " is not allowed"};
  if (seen.count(name)) throw UsageError{"file name " + name + " is given twice"};
}

struct Layout {
  std::string target;
  std::vector<File> files;
  uint32_t table_blocks = 0;
  uint64_t total_blocks = 0;
};

Layout parse_args(int argc, char** argv, bool& help) {
  std::string target;
  std::vector<std::string> specs;
  std::vector<uint64_t> engine_sizes;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help = true;
      return {};
    }
    std::string list;
    if (arg == "--engine-sizes") {
      if (i + 1 >= argc) throw UsageError{"--engine-sizes needs a list of sizes, e.g. 4K,1M"};
      list = argv[++i];
    } else if (arg.rfind("--engine-sizes=", 0) == 0) {
      list = arg.substr(std::strlen("--engine-sizes="));
    } else if (arg.size() > 1 && arg[0] == '-') {
      throw UsageError{"unknown option " + arg};
    } else if (target.empty()) {
      target = arg;
      continue;
    } else {
      specs.push_back(arg);
      continue;
    }
    try {
      for (uint64_t s : readpath::parse_size_list(list)) engine_sizes.push_back(s);
    } catch (const readpath::Error& e) {
      throw UsageError{std::string("--engine-sizes: ") + e.what()};
    }
  }
  if (target.empty()) throw UsageError{"no TARGET given (a block device or an image file)"};

  Layout layout;
  std::set<std::string> seen;
  for (const std::string& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos) throw UsageError{"bad file " + spec + ": expected NAME=SIZE, e.g. data=1M"};
    File f;
    f.name = spec.substr(0, eq);
    check_name(f.name, seen);
    f.size = size_arg("file " + f.name, spec.substr(eq + 1));
    seen.insert(f.name);
    layout.files.push_back(f);
  }
  for (uint64_t size : engine_sizes) {
    File f;
    f.name = readpath::image_file_name(size);
    check_name(f.name, seen);
    f.size = size;
    seen.insert(f.name);
    layout.files.push_back(f);
  }
  if (layout.files.size() > kMaxFiles)
    throw UsageError{std::to_string(layout.files.size()) + " files; myfs mounts at most " +
                     std::to_string(kMaxFiles)};
  const auto nr = static_cast<uint32_t>(layout.files.size());
  layout.table_blocks = (nr + kEntriesPerBlock - 1) / kEntriesPerBlock;
  uint64_t next = 1 + layout.table_blocks;
  uint64_t ino = 2;
  for (File& f : layout.files) {
    f.ino = ino++;
    f.start = next;
    if (f.blocks() > (UINT64_MAX / kBlock) - next)
      throw UsageError{"the files add up to more than any device holds"};
    next += f.blocks();
  }
  layout.total_blocks = next;
  layout.target = target;
  return layout;
}

class Target {
 public:
  explicit Target(const std::string& path) : path_(path) {}
  ~Target() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Opens the target and makes it hold `bytes`: a regular file is created or resized, a
  // block device must be at least that large.
  void open_for(uint64_t bytes) {
    struct stat st {};
    const bool exists = ::stat(path_.c_str(), &st) == 0;
    if (!exists && errno != ENOENT) throw UsageError{path_ + ": " + std::strerror(errno)};
    if (exists && S_ISBLK(st.st_mode)) {
      // O_EXCL on a block device: refused while it is mounted or otherwise held.
      fd_ = ::open(path_.c_str(), O_WRONLY | O_EXCL | O_CLOEXEC);
      if (fd_ < 0) throw UsageError{"cannot open " + path_ + ": " + std::strerror(errno)};
      uint64_t have = 0;
      if (::ioctl(fd_, BLKGETSIZE64, &have) != 0)
        throw readpath::sys_error("BLKGETSIZE64 on " + path_);
      if (have < bytes)
        throw UsageError{path_ + " holds " + std::to_string(have) + " bytes, but the image needs " +
                         std::to_string(bytes) + "; give a larger device or fewer files"};
      return;
    }
    if (exists && !S_ISREG(st.st_mode))
      throw UsageError{path_ + " is neither a block device nor a regular file"};
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw UsageError{"cannot open " + path_ + ": " + std::strerror(errno)};
    if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0)
      throw readpath::sys_error("resizing " + path_ + " to " + std::to_string(bytes) + " bytes");
  }

  void write_at(const void* data, size_t len, uint64_t offset) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (len > 0) {
      const ssize_t n = ::pwrite(fd_, p, len, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw readpath::sys_error("writing " + path_ + " at byte " + std::to_string(offset));
      }
      p += n;
      len -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
  }

  void sync() {
    if (::fsync(fd_) != 0) throw readpath::sys_error("fsync " + path_);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

void write_image(Target& out, const Layout& layout) {
  const std::vector<File>& files = layout.files;
  std::vector<unsigned char> block(kBlock, 0);
  std::memcpy(block.data(), kMagic, sizeof kMagic);
  put32(&block[8], 1);
  put32(&block[12], kBlock);
  put64(&block[16], layout.total_blocks);
  put32(&block[24], static_cast<uint32_t>(files.size()));
  put32(&block[28], layout.table_blocks);
  out.write_at(block.data(), kBlock, 0);

  for (uint32_t b = 0; b < layout.table_blocks; ++b) {
    std::fill(block.begin(), block.end(), 0);
    for (uint32_t slot = 0; slot < kEntriesPerBlock; ++slot) {
      const size_t i = static_cast<size_t>(b) * kEntriesPerBlock + slot;
      if (i >= files.size()) break;
      unsigned char* e = &block[slot * kEntrySize];
      std::memcpy(e, files[i].name.data(), files[i].name.size());
      put64(e + 40, files[i].size);
      put64(e + 48, files[i].start);
      put32(e + 56, static_cast<uint32_t>(files[i].ino));
    }
    out.write_at(block.data(), kBlock, (1 + uint64_t{b}) * kBlock);
  }

  constexpr size_t kChunk = 1 << 20;
  std::vector<unsigned char> buf(kChunk);
  for (const File& f : files) {
    const uint64_t bytes = f.blocks() * kBlock;
    for (uint64_t off = 0; off < bytes; off += kChunk) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - off));
      const size_t data = off >= f.size ? 0 : static_cast<size_t>(std::min<uint64_t>(len, f.size - off));
      readpath::content_fill(f.ino, off, buf.data(), data);
      std::memset(buf.data() + data, 0, len - data);  // the rest of the last block is zero
      out.write_at(buf.data(), len, f.start * kBlock + off);
    }
  }
  out.sync();
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  Layout layout;
  try {
    layout = parse_args(argc, argv, help);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "mkfs.myfs: %s (see mkfs.myfs --help)\n", e.message.c_str());
    return 2;
  }
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  try {
    Target out(layout.target);
    out.open_for(layout.total_blocks * kBlock);
    write_image(out, layout);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "mkfs.myfs: %s\n", e.message.c_str());
    return 2;
  } catch (const readpath::Error& e) {
    std::fprintf(stderr, "mkfs.myfs: %s\n", e.what());
    return 1;
  }
  for (const File& f : layout.files)
    std::printf("%s %llu %llu %llu\n", f.name.c_str(), static_cast<unsigned long long>(f.size),
                static_cast<unsigned long long>(f.ino), static_cast<unsigned long long>(f.start));
  return 0;
}
