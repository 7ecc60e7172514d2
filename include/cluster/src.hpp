// SPDX-License-Identifier: BSL-1.0
// The definitions of cluster's non-template code, for the compiled build: included once, by
// src/compiled.cpp (the cluster::compiled library), with CLUSTER_SEPARATE_COMPILATION defined.
// Nothing is compiled separately yet: every definition is still in the headers.
#pragma once
