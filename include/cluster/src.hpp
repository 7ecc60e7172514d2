// SPDX-License-Identifier: BSL-1.0
// The library's compiled part, for separate compilation: include it in exactly one translation
// unit built with CLUSTER_SEPARATE_COMPILATION defined (the `cluster::compiled` target does).
#pragma once

#if !defined(CLUSTER_SEPARATE_COMPILATION)
#error "cluster: <cluster/src.hpp> is for a library built with CLUSTER_SEPARATE_COMPILATION"
#endif

#include <cluster/impl/text.ipp>
#include <cluster/impl/worker.ipp>
#include <cluster/master/core.hpp>
#include <cluster/master/impl/core.ipp>
#include <cluster/os/impl/hang.ipp>
#include <cluster/plugins/cli.hpp>
#include <cluster/plugins/debug.hpp>
#include <cluster/plugins/impl/cli.ipp>
#include <cluster/plugins/impl/debug.ipp>
#include <cluster/plugins/impl/logger.ipp>
#include <cluster/plugins/impl/pidfiles.ipp>
#include <cluster/plugins/impl/reload.ipp>
#include <cluster/plugins/impl/repl.ipp>
#include <cluster/plugins/impl/stats.ipp>
#include <cluster/plugins/logger.hpp>
#include <cluster/plugins/pidfiles.hpp>
#include <cluster/plugins/reload.hpp>
#include <cluster/plugins/repl.hpp>
#include <cluster/plugins/stats.hpp>
#include <cluster/plugins/stats/endpoint.hpp>
#include <cluster/plugins/stats/figures.hpp>
#include <cluster/plugins/stats/impl/endpoint.ipp>
#include <cluster/plugins/stats/impl/figures.ipp>
#include <cluster/server/http.hpp>
#include <cluster/server/impl/http.ipp>
#include <cluster/text.hpp>
#include <cluster/worker.hpp>
