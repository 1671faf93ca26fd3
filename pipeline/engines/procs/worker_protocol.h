// The control messages between the procs engine and a worker process, over one SOCK_SEQPACKET
// socketpair per worker: one message per send, delivered whole and in order, and end-of-file
// as soon as the other side is gone. Pixels never travel here; they are in the SharedSlots.
//
//   engine -> worker  once: the processing options (to_json) as text, with the slots' memfds
//                     attached
//   worker -> engine  Reply{ready}
//   engine -> worker  Request per image; the worker works through them in order
//   worker -> engine  Reply{done} per Request, in the same order
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "imgprep/core/augment.h"

namespace imgprep {

inline constexpr int kControlFd = 3;       // the worker's end of the socket
inline constexpr int kSlotsPerWorker = 2;  // one image being processed, one waiting
inline constexpr size_t kMaxConfigBytes = 1 << 16;

// The file's bytes are at the start of the slot.
struct Request {
  uint32_t slot = 0;
  uint64_t seq = 0;
  uint64_t key = 0;  // the input's (InputItem::key): what its augmentation is keyed by
  uint64_t input_size = 0;
  uint64_t slot_size = 0;  // the engine may have grown the slot: the worker maps this much
#ifdef IMGPREP_FAULT_INJECTION
  char path[4096] = {};  // what IMGPREP_FAULT matches (test builds only)
#endif
};

// The output is at the start of the slot (it overwrites the input, which the worker copied).
struct Reply {
  enum Kind : uint32_t { ready, done };
  Kind kind = ready;
  uint32_t slot = 0;
  uint64_t seq = 0;
  int32_t width = 0, height = 0;  // as Job
  int32_t out_w = 0, out_h = 0;   // as Job
  CropBox box;                    // as Job
  bool flipped = false;           // as Job
  uint64_t output_size = 0;
  uint64_t slot_size = 0;         // the worker grew the slot to fit the output: map this much
  int64_t decode_ns = 0, transform_ns = 0;  // busy time, for the run's stage totals
  int64_t decoded_bytes = 0;                // as RunStats
  char error[1024] = {};          // empty: the output is in the slot
  char warning[1024] = {};
};

// Copies text into a fixed field, cut to fit, always NUL-terminated.
template <size_t N>
void copy_text(char (&field)[N], std::string_view text) {
  const size_t n = std::min(text.size(), N - 1);
  text.copy(field, n);
  field[n] = '\0';
}

// Sends one message (and file descriptors); false if the other side is gone. Never raises
// SIGPIPE.
bool send_message(int fd, const void* data, size_t size, std::span<const int> fds = {});
// Receives one message into data (at most size bytes) and any file descriptors into fds
// (close-on-exec). Returns its size, 0 at end-of-file, -1 on errors (errno), retrying EINTR.
ssize_t receive_message(int fd, void* data, size_t size, std::vector<int>* fds = nullptr,
                        int flags = 0);

}  // namespace imgprep
