// stress/harness/child_process.hpp: run a function in a forked child and
// collect its exit code.  Used by the shared-queue stress workload and the
// shared-queue unit tests (tests/ puts stress/ on its include path).
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cubby::stress {

// spawn: runs f in a child process that leaves with _exit(f's result), so
// that no parent-side teardown (a test framework's, static destructors) runs
// twice.  99: f did not return; 98: f threw.
template <class F>
pid_t spawn(F f) {
  const pid_t pid = ::fork();
  if (pid == 0) {
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

}  // namespace cubby::stress
