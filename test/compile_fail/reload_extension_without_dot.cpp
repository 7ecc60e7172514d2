// expect: reload_extension_must_start_with_a_dot
// An ending the watch would compare as a suffix of any name ("json" matches "notjson" too). Its
// good twin, ".json", is in control.cpp.
#include <cluster/plugins/reload.hpp>

[[maybe_unused]] auto const watch = cluster::reload{{"config"}}.extensions({"json"});
