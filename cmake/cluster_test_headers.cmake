# SPDX-License-Identifier: BSL-1.0
# Checks that every public header compiles on its own: one TU per header, in one object library.

function(cluster_test_headers include_dir)
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS RELATIVE ${include_dir} ${include_dir}/cluster/*.hpp)
  set(sources "")
  foreach(header IN LISTS headers)
    # <cluster/src.hpp> is for the compiled library only, which defines what it needs first.
    if(header MATCHES "/detail/" OR header STREQUAL "cluster/src.hpp")
      continue()
    endif()
    string(REPLACE "/" "_" stem ${header})
    string(REPLACE ".hpp" ".cpp" stem ${stem})
    set(tu ${CMAKE_CURRENT_BINARY_DIR}/headers/${stem})
    file(CONFIGURE OUTPUT ${tu} CONTENT "#include <${header}>\n#include <${header}>\n")
    list(APPEND sources ${tu})
  endforeach()
  add_library(cluster_test_headers OBJECT ${sources})
  target_link_libraries(cluster_test_headers PRIVATE cluster_dev)
endfunction()
