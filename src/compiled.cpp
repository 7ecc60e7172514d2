// SPDX-License-Identifier: BSL-1.0
// The cluster::compiled library: the code that does not depend on the user's configuration,
// compiled once here instead of in every program that includes it. Built with
// CLUSTER_SEPARATE_COMPILATION, BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION, which the headers then read as "declare, do not define".
#include <cluster/src.hpp>

#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
