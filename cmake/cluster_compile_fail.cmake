# SPDX-License-Identifier: BSL-1.0
# Compile-fail tests: each file must fail to compile with the diagnostic its first line names.
#
# A case starts with
#   // expect: <text the compiler output must contain>
# and may add, on the next line,
#   // errors: <most error lines allowed>        (default 1: one mistake, one error)
#
# Each case is checked with every compiler we have (g++ and clang++), by running the compiler
# directly with -fsyntax-only: both compilers from one build tree, no build-tree lock needed, and
# the check reads the exit status, the text and the number of error lines.

set(CLUSTER_COMPILE_FAIL_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/check_compile_fail.cmake)

set(cluster_compile_fail_compilers "")
foreach(candidate IN ITEMS g++-12 g++ clang++-14 clang++)
  find_program(found_${candidate} ${candidate})
endforeach()
if(found_g++-12)
  list(APPEND cluster_compile_fail_compilers "gcc=${found_g++-12}")
elseif(found_g++)
  list(APPEND cluster_compile_fail_compilers "gcc=${found_g++}")
endif()
if(found_clang++-14)
  list(APPEND cluster_compile_fail_compilers "clang=${found_clang++-14}")
elseif(found_clang++)
  list(APPEND cluster_compile_fail_compilers "clang=${found_clang++}")
endif()

# cluster_compile_fail(<file> [WILL_FAIL]): registers compile_fail.<name>.<compiler> tests.
# WILL_FAIL marks the control case, a file that compiles: its test must fail, proving the
# harness tells good code from bad.
function(cluster_compile_fail file)
  cmake_parse_arguments(arg "WILL_FAIL" "" "" ${ARGN})
  get_filename_component(name ${file} NAME_WE)
  get_filename_component(source ${file} ABSOLUTE)
  foreach(entry IN LISTS cluster_compile_fail_compilers)
    string(REPLACE "=" ";" pair ${entry})
    list(GET pair 0 compiler_name)
    list(GET pair 1 compiler)
    set(test compile_fail.${name}.${compiler_name})
    add_test(NAME ${test}
      COMMAND ${CMAKE_COMMAND}
        -DCOMPILER=${compiler}
        -DSOURCE=${source}
        -DINCLUDE=${PROJECT_SOURCE_DIR}/include
        -P ${CLUSTER_COMPILE_FAIL_SCRIPT})
    set_tests_properties(${test} PROPERTIES LABELS compile-fail TIMEOUT 300)
    if(arg_WILL_FAIL)
      set_tests_properties(${test} PROPERTIES WILL_FAIL TRUE)
    endif()
  endforeach()
endfunction()
