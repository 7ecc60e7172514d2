// expect: reload_period_must_not_be_negative
// A quiet period below zero. Its good twin, 200 ms, is in control.cpp.
#include <cluster/plugins/reload.hpp>

#include <chrono>

using namespace std::chrono_literals;

[[maybe_unused]] auto const watch = cluster::reload{}.quiet(-200ms);
