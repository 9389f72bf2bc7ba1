// model_check/relacy/relacy_prelude.hpp: force-included (-include) first in
// every translation unit of the Relacy build: Relacy must see the standard
// headers before anything else (with -I<relacy>/relacy/fakestd it replaces
// <atomic>, <thread>, <mutex>; relacy.hpp alone does not compile against
// libstdc++ 12 in C++20).
#pragma once
#include <relacy/relacy_std.hpp>
