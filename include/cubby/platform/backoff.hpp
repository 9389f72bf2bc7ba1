// cubby/platform/backoff.hpp: how a blocking wait spends its time before it
// sleeps: spin with a pause instruction, then yield, then (the caller) sleeps
// on the futex.  Nothing here makes a syscall except the yields; a waker makes
// a futex syscall only when a waiter has announced that it sleeps.
#pragma once

namespace cubby::platform {

template <class Platform>
class Backoff {
 public:
  // spin_once: spends one step of the budget; false when the caller should
  // sleep instead.
  bool spin_once() noexcept {
    if (step_ < Platform::spin_pauses) {
      ++step_;
      Platform::pause();
      return true;
    }
    if (step_ < Platform::spin_pauses + Platform::spin_yields) {
      ++step_;
      Platform::yield();
      return true;
    }
    return false;
  }
  void reset() noexcept { step_ = 0; }
  // costly_next: whether the next step is dearer than reading the clock (the
  // first step, a yield, or the sleep that follows the budget); a timed
  // caller checks its deadline only then, not between pauses.
  bool costly_next() const noexcept { return step_ == 0 || step_ >= Platform::spin_pauses; }

 private:
  unsigned step_ = 0;
};

// claims_late: Platform::claim_late() if the platform has it, else false (a
// platform without it always takes tickets on arrival).
template <class Platform>
bool claims_late() noexcept {
  if constexpr (requires { Platform::claim_late(); }) {
    return Platform::claim_late();
  } else {
    return false;
  }
}

}  // namespace cubby::platform
