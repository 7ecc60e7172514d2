// SPDX-License-Identifier: BSL-1.0
// A temporary directory for a test, removed with its contents when the test is done with it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace cluster::testing {

/// A fresh directory `/tmp/<prefix>-XXXXXX` (mkdtemp: private to its owner), removed with
/// everything in it by the destructor.
class temp_dir {
 public:
  explicit temp_dir(std::string const& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("cannot make a temporary directory " + pattern);
    path_ = pattern;
  }
  temp_dir(temp_dir const&) = delete;
  temp_dir& operator=(temp_dir const&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  [[nodiscard]] std::filesystem::path const& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace cluster::testing
