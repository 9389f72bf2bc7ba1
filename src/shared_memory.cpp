// src/shared_memory.cpp: the POSIX shared-memory syscalls behind
// platform::SharedMemory (shm_open, ftruncate, mmap), and their errors.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <chrono>
#include <system_error>
#include <thread>
#include <utility>

#include "cubby/platform/ipc.hpp"

namespace cubby::platform {
namespace {

// valid_name: a portable POSIX shared-memory name (shm_overview(7)): at
// most NAME_MAX (255) characters, a '/' then 1 or more characters, none of
// them '/' or NUL, and not "/." or "/.." (which name no segment).  Checked
// before any syscall, so that a bad name is a std::invalid_argument naming
// it, not an EINVAL or ENAMETOOLONG (or, for glibc, a name with several
// leading slashes taken for another one).
bool valid_name(const std::string& name) noexcept {
  return name.size() >= 2 && name.size() <= NAME_MAX && name[0] == '/' &&
         name.find_first_of(std::string_view("/\0", 2), 1) == std::string::npos && name != "/." && name != "/..";
}

void check_name(const std::string& name) {
  if (valid_name(name)) return;
  std::string shown;  // control characters (a NUL would end what()) as \xNN
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7F) {
      shown += c;
    } else {
      constexpr char hex[] = "0123456789abcdef";
      shown += {'\\', 'x', hex[u >> 4], hex[u & 15]};
    }
  }
  throw std::invalid_argument("cubby::SharedMemory: a segment name is '/' then 1 to " + std::to_string(NAME_MAX - 1) +
                              " characters other than '/' and NUL (not '.' or '..'), got '" + shown + "' (" +
                              std::to_string(name.size()) + " characters)");
}

[[noreturn]] void fail(int err, const std::string& what, const std::string& name) {
  throw std::system_error(err, std::generic_category(), "cubby::SharedMemory: " + what + " '" + name + "'");
}

void* map(int fd, std::size_t size, const std::string& name) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    fail(err, "mmap", name);
  }
  ::close(fd);  // the mapping keeps the segment
  return p;
}

}  // namespace

SharedMemory SharedMemory::create(const std::string& name, std::size_t size, bool unlink_on_destroy) {
  check_name(name);
  if (size == 0) throw std::invalid_argument("cubby::SharedMemory: a segment needs at least 1 byte, got 0 for '" + name + "'");
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) fail(errno, "shm_open(create)", name);
  auto undo = [&](int err, const char* what) {
    ::close(fd);
    ::shm_unlink(name.c_str());
    fail(err, what, name);
  };
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) undo(errno, "ftruncate");
  // ftruncate reserves nothing on tmpfs: a segment larger than what /dev/shm
  // has left would fault (SIGBUS) on first touch.  Reserve it now, so that
  // a full /dev/shm is an error here (ENOSPC).
  if (const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); err != 0) {
    undo(err, "posix_fallocate (is /dev/shm large enough?)");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) undo(errno, "fstat");
  void* p = nullptr;
  try {
    p = map(fd, size, name);
  } catch (...) {
    ::shm_unlink(name.c_str());
    throw;
  }
  return SharedMemory(name, p, size, unlink_on_destroy,
                      {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)});
}

SharedMemory SharedMemory::open(const std::string& name, std::size_t size, std::chrono::milliseconds wait) {
  check_name(name);
  const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) fail(errno, "shm_open(open)", name);
  const auto deadline = deadline_after(wait);
  for (;;) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      fail(err, "fstat", name);
    }
    const auto have = static_cast<std::size_t>(st.st_size);
    if (have >= size) break;
    // 0 bytes: the creator is between shm_open and ftruncate (see create).
    if (have != 0 || std::chrono::steady_clock::now() > deadline) {
      ::close(fd);
      fail(EINVAL,
           have == 0 ? "segment not sized in time"
                     : "segment of " + std::to_string(have) + " bytes, smaller than the " + std::to_string(size) +
                           " expected,",
           name);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return SharedMemory(name, map(fd, size, name), size, false, {});
}

// unlink: an invalid name names no segment create() could have made (and
// glibc would take "//a" for "/a").
bool SharedMemory::unlink(const std::string& name) noexcept {
  return valid_name(name) && ::shm_unlink(name.c_str()) == 0;
}

// still_ours: whether the name still names the segment this handle created
// (same device and inode): if it was unlinked and created again by someone
// else, the destructor leaves the newcomer's name alone.  A name replaced
// between this check and the unlink is the one race left.
bool SharedMemory::still_ours() const noexcept {
  const int fd = ::shm_open(name_.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  struct stat st {};
  const bool same = ::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_dev) == identity_.device &&
                    static_cast<std::uint64_t>(st.st_ino) == identity_.inode;
  ::close(fd);
  return same;
}

SharedMemory::SharedMemory(std::string name, void* data, std::size_t size, bool unlink_on_destroy,
                           Identity identity) noexcept
    : name_(std::move(name)),
      data_(data),
      size_(size),
      unlink_on_destroy_(unlink_on_destroy),
      creator_pid_(static_cast<int>(::getpid())),
      identity_(identity) {}

SharedMemory::SharedMemory(SharedMemory&& o) noexcept
    : name_(std::move(o.name_)),
      data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      unlink_on_destroy_(std::exchange(o.unlink_on_destroy_, false)),
      creator_pid_(o.creator_pid_),
      identity_(o.identity_) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
  if (this != &o) {
    release();
    name_ = std::move(o.name_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    unlink_on_destroy_ = std::exchange(o.unlink_on_destroy_, false);
    creator_pid_ = o.creator_pid_;
    identity_ = o.identity_;
  }
  return *this;
}

SharedMemory::~SharedMemory() { release(); }

void SharedMemory::release() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  // Only in the creating process: a fork() child holds a copy of this handle.
  if (unlink_on_destroy_ && creator_pid_ == static_cast<int>(::getpid()) && still_ours()) ::shm_unlink(name_.c_str());
  data_ = nullptr;
  unlink_on_destroy_ = false;
}

}  // namespace cubby::platform
