// tests/asleep_in_futex.hpp: whether a thread (or a single-threaded child
// process) is asleep in futex(2), read from /proc: tests wait for that
// instead of sleeping "long enough" before they wake it.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

namespace cubby::test {

// task_state: the state letter of task `tid` from /proc/<tid>/stat (R
// running, S asleep, Z exited but not reaped, ...); '?' if it is gone.
inline char task_state(pid_t tid) {
  std::ifstream st("/proc/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(st, line);
  const auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : '?';
}

// asleep_in_futex: task `tid` (a thread id, or a process id for a
// single-threaded process) is blocked (state S) inside futex(2).  A task
// that has been woken but has not run yet is in state R, so this is false
// until it sleeps again.
inline bool asleep_in_futex(pid_t tid) {
  std::ifstream sc("/proc/" + std::to_string(tid) + "/syscall");
  long nr = -1;
  return (sc >> nr) && nr == SYS_futex && task_state(tid) == 'S';
}

// this_tid: the calling thread's id, for asleep_in_futex.
inline pid_t this_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// await_asleep: yields until task `tid` is asleep in futex(2), or has exited
// (a child process that returned early: its exit status tells why).
inline void await_asleep(pid_t tid) {
  while (!asleep_in_futex(tid) && task_state(tid) != 'Z' && task_state(tid) != '?') std::this_thread::yield();
}

// await_asleep (thread form): yields until the thread that stores its id
// (this_tid()) in `tid` has done so and is asleep in futex(2).
inline void await_asleep(const std::atomic<pid_t>& tid) {
  while (tid.load() == 0 || !asleep_in_futex(tid.load())) std::this_thread::yield();
}

}  // namespace cubby::test
