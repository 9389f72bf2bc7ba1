// A program outside the project: hands a value between two threads.
#include <cubby/cubby.hpp>

#include <cstdio>
#include <thread>

int main() {
  cubby::Cubby<int> c;
  std::thread t([&] { (void)c.push(42); });
  int v = 0;
  const auto s = c.pop(v);
  t.join();
  std::printf("%s %d\n", cubby::to_string(s), v);
  return (s == cubby::Status::ok && v == 42) ? 0 : 1;
}
