# SPDX-License-Identifier: BSL-1.0
# Runs one compile-fail case (see cluster_compile_fail.cmake). Inputs: COMPILER, SOURCE, INCLUDE.

file(STRINGS ${SOURCE} header LIMIT_COUNT 2)
list(GET header 0 first)
if(NOT first MATCHES "^// expect: (.+)$")
  message(FATAL_ERROR "${SOURCE}: the first line must be '// expect: <diagnostic text>'")
endif()
set(expect "${CMAKE_MATCH_1}")
set(max_errors 1)
list(LENGTH header lines)
if(lines GREATER 1)
  list(GET header 1 second)
  if(second MATCHES "^// errors: ([0-9]+)$")
    set(max_errors ${CMAKE_MATCH_1})
  endif()
endif()

execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only -I${INCLUDE} ${SOURCE}
  RESULT_VARIABLE status
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)

if(status EQUAL 0)
  message(FATAL_ERROR "compiled, but should have failed with: ${expect}")
endif()
string(FIND "${out}" "${expect}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the diagnostic does not contain '${expect}'; the compiler said:\n${out}")
endif()
# Semicolons would split the CMake list of matches, and our messages contain them.
string(REPLACE ";" "," flat "${out}")
string(REGEX MATCHALL "[^\n]*: error: [^\n]*" errors "${flat}")
list(LENGTH errors count)
if(count GREATER max_errors)
  message(FATAL_ERROR "${count} error lines, at most ${max_errors} allowed "
                      "(one mistake should give one error); the compiler said:\n${out}")
endif()
message(STATUS "failed as expected (${count} error line(s)): ${expect}")
