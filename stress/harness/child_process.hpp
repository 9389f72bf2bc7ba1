// stress/harness/child_process.hpp: run a function in a forked child and
// collect its exit code.  Used by the shared-queue stress workload and the
// shared-queue unit tests (tests/ puts stress/ on its include path).
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace cubby::stress {

// spawn: runs f in a child process that leaves with _exit(f's result), so
// that no parent-side teardown (a test framework's, static destructors) runs
// twice.  99: f did not return; 98: f threw.  The child is killed when the
// thread that spawned it ends (PR_SET_PDEATHSIG), so a parent that dies or
// is killed leaves no child spinning on a queue nobody serves: spawn and
// wait from one thread.
template <class F>
pid_t spawn(F f) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The parent may have died before the prctl: then getppid() changed.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(97);
    int code = 99;
    try {
      code = f();
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  return pid;
}

// wait_exit_code: the child's exit code; -1 if waiting failed, -2 if it did
// not exit normally (a signal).
inline int wait_exit_code(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
}

// wait_exit_code_until: as wait_exit_code, but a child still running at
// `deadline` is killed, and the result is -3.
inline int wait_exit_code_until(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
    if (r != 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      (void)wait_exit_code(pid);
      return -3;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace cubby::stress
