// cubby/status.hpp: the result of a blocking or timed operation.
#pragma once

namespace cubby {

enum class Status {
  ok,       // the value was delivered (push) or received (pop)
  timeout,  // the deadline passed; a push keeps its value, nothing was taken
  closed,   // the primitive is closed; a push keeps its value, a pop got none
};

constexpr const char* to_string(Status s) noexcept {
  switch (s) {
    case Status::ok: return "ok";
    case Status::timeout: return "timeout";
    case Status::closed: return "closed";
  }
  return "?";
}

}  // namespace cubby
