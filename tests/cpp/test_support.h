// Small helpers shared by the C++ tests: file bytes, random images, the generated fixture folder,
// scratch folders that clean up after themselves, and capturing what a call writes to stderr.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "imgprep/codecs/decoder.h"

namespace imgprep::test {

// A w x h RGBX image of random bytes (the same for the same seed).
inline DecodedImage random_rgbx(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  DecodedImage img;
  img.width = w;
  img.height = h;
  img.extent_w = w;
  img.extent_h = h;
  img.pixels.resize(static_cast<size_t>(w) * h * 4);
  for (uint8_t& b : img.pixels) b = static_cast<uint8_t>(rng());
  return img;
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  write_bytes(path, text.data(), text.size());
}

// The folder make_fixtures.py writes (tests/CMakeLists.txt, fixture "images").
inline std::filesystem::path fixtures_dir() {
  const char* env = std::getenv("IMGPREP_FIXTURES");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(IMGPREP_FIXTURES_DEFAULT);
}

inline std::filesystem::path source_dir() { return IMGPREP_SOURCE_DIR; }

// A fresh folder under the system temp folder, removed with everything in it on destruction
// (remove_all does not follow symlinks, so links out of the folder are safe).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "imgprep-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

// Redirects file descriptor 2 into a temporary file until text() is called.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    file_ = std::tmpfile();
    saved_ = ::dup(2);
    if (!file_ || saved_ < 0 || ::dup2(::fileno(file_), 2) < 0)
      throw std::runtime_error("cannot redirect stderr");
  }
  ~StderrCapture() {
    restore();
    if (file_) std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // Restores stderr and returns everything written to it meanwhile.
  std::string text() {
    restore();
    std::string out;
    std::rewind(file_);
    for (int c; (c = std::fgetc(file_)) != EOF;) out += static_cast<char>(c);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }

  std::FILE* file_ = nullptr;
  int saved_ = -1;
};

}  // namespace imgprep::test
