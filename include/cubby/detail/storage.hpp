// cubby/detail/storage.hpp: raw storage for one T whose lifetime the owning
// slot manages (constructed by a put, destroyed by a take).
#pragma once

#include <new>
#include <type_traits>
#include <utility>

namespace cubby::detail {

template <class T>
class Storage {
 public:
  template <class... Args>
  void construct(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    ::new (static_cast<void*>(bytes_)) T(std::forward<Args>(args)...);
  }
  T& get() noexcept { return *std::launder(reinterpret_cast<T*>(bytes_)); }
  const T& get() const noexcept { return *std::launder(reinterpret_cast<const T*>(bytes_)); }
  void destroy() noexcept { get().~T(); }

 private:
  alignas(T) unsigned char bytes_[sizeof(T)]{};
};

}  // namespace cubby::detail
