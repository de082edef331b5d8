#pragma once
// The one way the library writes a file: the bytes go to a temporary file in the same folder, are flushed
// to disk, and the temporary is renamed over the target, whose folder is flushed too. A reader sees the old
// file or the new one, never half of one; a crash or a failed write leaves the old file intact, and a failed
// write leaves no temporary behind.
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <unistd.h>

#include "../core/errors.hpp"

namespace siamese {

namespace detail {
inline std::string errno_text(int e) { return std::strerror(e); }

// Closes a descriptor on every path out of a scope.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace detail

/// The temporary file write_file_atomically uses for `path`: one fixed name beside it, so a write killed
/// midway leaves at most one stale file, which the next write to `path` replaces.
inline std::filesystem::path atomic_temporary(const std::filesystem::path& path) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  return tmp;
}

/// Writes `bytes` to `path` atomically (see above). Throws `Error` (a FileError or a type derived from it)
/// naming the file and the reason when the temporary cannot be created, written, flushed or renamed.
template <class Error = FileError>
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  const std::string file = path.string(), tmp = atomic_temporary(path).string();
  auto fail = [&](const std::string& what, int e, bool remove_tmp) {
    if (remove_tmp) ::unlink(tmp.c_str());
    return Error("'" + file + "': " + what + ": " + detail::errno_text(e));
  };
  detail::FdGuard out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (out.fd < 0) throw fail("cannot create the temporary file '" + tmp + "'", errno, false);
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t r = ::write(out.fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw fail("writing failed after " + std::to_string(done) + " of " + std::to_string(bytes.size()) +
                           " bytes", r < 0 ? errno : ENOSPC, true);
    done += std::size_t(r);
  }
  if (::fsync(out.fd) != 0) throw fail("flushing the temporary file to disk failed", errno, true);
  const int fd = out.fd;
  out.fd = -1;
  if (::close(fd) != 0) throw fail("closing the temporary file failed", errno, true);
  if (::rename(tmp.c_str(), file.c_str()) != 0) throw fail("renaming the temporary file over it failed", errno, true);
  // The rename is durable once the folder's entry is on disk. Some file systems cannot fsync a folder (EINVAL):
  // the file is in place then, as durable as they make it.
  const std::filesystem::path parent = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  detail::FdGuard dir{::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (dir.fd >= 0 && ::fsync(dir.fd) != 0 && errno != EINVAL && errno != EROFS)
    throw fail("flushing its folder to disk failed after the rename", errno, false);
}

}  // namespace siamese
