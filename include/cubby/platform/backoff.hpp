// cubby/platform/backoff.hpp: how a blocking wait spends its time before it
// sleeps: spin with a pause instruction, then yield, then (the caller) sleeps
// on the futex.  Nothing here makes a syscall except the yields; a waker makes
// a futex syscall only when a waiter has announced that it sleeps.
#pragma once

namespace cubby::platform {

// spin_pauses: the platform's pause budget, a constant or (a count measured
// at run time) a function.
template <class Platform>
unsigned spin_pauses() noexcept {
  if constexpr (requires { Platform::spin_pauses(); }) {
    return Platform::spin_pauses();
  } else {
    return Platform::spin_pauses;
  }
}

template <class Platform>
class Backoff {
 public:
  // spin_once: spends one step of the budget; false when the caller should
  // sleep instead.
  bool spin_once() noexcept {
    if (step_ == 0) pauses_ = spin_pauses<Platform>();  // once per wait: a wait that never spins never asks
    if (step_ < pauses_) {
      ++step_;
      Platform::pause();
      return true;
    }
    if (step_ < pauses_ + Platform::spin_yields) {
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
  bool costly_next() const noexcept { return step_ == 0 || step_ >= pauses_; }

 private:
  unsigned step_ = 0;
  unsigned pauses_ = 0;  // the platform's pause budget, read at the first step
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
