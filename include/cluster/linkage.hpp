// SPDX-License-Identifier: BSL-1.0
// How the library's non-template functions are compiled: inline in every program that includes
// them (header-only, the default), or once in the `cluster::compiled` library.
#pragma once

/// With `CLUSTER_SEPARATE_COMPILATION` defined (the `cluster::compiled` CMake target defines it),
/// the headers only declare the master's core, and one translation unit of the library includes
/// <cluster/src.hpp> to define it. Otherwise each program compiles it inline, once per program.
#if defined(CLUSTER_SEPARATE_COMPILATION)
#define CLUSTER_DECL
#else
#define CLUSTER_DECL inline
#endif
