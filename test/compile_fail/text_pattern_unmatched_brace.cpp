// expect: pattern_has_an_unmatched_brace
// A lone closing brace: {fmt} and std::format refuse it, and so does cluster::text at compile time.
// Its good twin: the doubled braces in test/unit/text.cpp.
#include <cluster/text.hpp>

#include <string>

std::string line(int id) { return cluster::text::format("worker {}} spawned", id); }
