// Builds the ordered list of inputs for a run from a folder (walked recursively, ImageFolder
// labels) or from a text/CSV list of paths, and takes the --shard K/N slice of it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace imgprep {

inline constexpr int64_t kNoLabel = -1;

struct InputItem {
  std::filesystem::path path;  // where to read it
  std::string rel;             // as reported: relative to INPUT (folder) or as listed (list)
  int64_t label = kNoLabel;
  // What seeded augmentation is keyed by: the input's position in the whole ordered list (before
  // the --shard slice), so a slice or a shuffle keeps each input's draws.
  uint64_t key = 0;
};

struct InputList {
  std::vector<InputItem> items;
  std::vector<std::string> classes;  // label -> class name; empty when labels are plain ints
  bool has_labels = false;
  size_t skipped = 0;                // non-image files seen by the walk
  size_t unsliced = 0;               // inputs before the --shard slice was taken
  size_t first = 0;                  // the slice's first input, as a position in the whole list
  std::string unsliced_fingerprint;  // inputs_fingerprint of the whole list
  std::vector<std::string> unsliced_rels;  // the whole list's InputItem::rel, by position
  std::vector<std::string> walk_errors;  // unreadable folders, symlink loops
};

// --shard K/N (0 <= K < N): the K-th of N contiguous, nearly equal slices of the ordered list.
struct InputSlice {
  int index = 0;
  int count = 1;
};

// INPUT is unusable (missing, unreadable, malformed list).
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Folder: every file that is an image by content or by extension, ordered by the byte-wise sort
// of its path relative to the folder. Images in first-level subfolders are labelled by the index
// of that subfolder's name in sorted order, as torchvision's ImageFolder does.
// List file: UTF-8 text (a byte-order mark and CRLF line endings are fine), one path per line,
// optionally "path,label"; '#' comments, blank lines and a "path,label" header (in any case) are
// ignored; relative paths are resolved against the list file's folder; the listed order is kept.
// A line without quotes splits at its last comma; a line with them is read as CSV, so a path
// that holds a comma can be quoted ("a,b.jpg",3). Labels are all integers, kept as written, or
// all class names, numbered in sorted order; -1, or no label on a line, means no label. A column
// that mixes integers and names, a negative label other than -1, and a malformed line are
// refused (InputError, "FILE:LINE: reason").
// exclude: a folder the walk leaves out wherever it meets it, symlinks resolved (OUT, when it is
// inside INPUT: a run never reads its own outputs).
// classes_file (--classes): fixes the labels of class names (subfolders, or names in a list file)
// to their place in that file, whichever classes the inputs have, and `classes` is all of it. A
// class the file does not name, and a list file with integer labels, are refused.
// An INPUT with no images at all is refused ("no images in INPUT"); an empty --shard slice of
// a non-empty one is not.
InputList list_inputs(const std::filesystem::path& input, const InputSlice& slice = {},
                      const std::filesystem::path& exclude = {},
                      const std::filesystem::path& classes_file = {});

// What a run's outputs depend on in its inputs: a 64-bit FNV-1a of their relative paths and
// labels in order, as 16 hex digits. Equal lists give equal fingerprints on every machine.
std::string inputs_fingerprint(const std::vector<InputItem>& items);

// "no images in INPUT": why a run or a benchmark has nothing to do.
std::string no_images_in(const std::filesystem::path& input);

// The class names of a --classes file, in label order: a JSON array of strings (the
// classes.json of a run) or UTF-8 text with one name per line (a byte-order mark, CRLF line
// endings and blank lines are fine; spaces around a name are not part of it). An empty list, an
// empty name and a name given twice are refused (InputError).
std::vector<std::string> read_class_names(const std::filesystem::path& file);

}  // namespace imgprep
