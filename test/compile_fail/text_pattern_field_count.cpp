// expect: pattern_fields_do_not_match_the_arguments
// A line pattern with two fields given one value: refused where it is written, not printed short
// at run time. Its good twin: every pattern in test/unit/text.cpp.
#include <cluster/text.hpp>

#include <string>

std::string line(int id) { return cluster::text::format("worker {} spawned (pid {})", id); }
