#include "imgprep/core/engine_kind.h"

namespace imgprep {
namespace {

struct EngineEntry {
  EngineKind kind;
  const char* name;
};

// The one table of engine names, in kAllEngineKinds' order.
constexpr EngineEntry kEngineTable[] = {{EngineKind::serial, "serial"},
                                        {EngineKind::threads, "threads"},
                                        {EngineKind::procs, "procs"},
                                        {EngineKind::tbb, "tbb"},
                                        {EngineKind::gpu, "gpu"}};

}  // namespace

const char* to_string(EngineKind kind) {
  for (const EngineEntry& e : kEngineTable)
    if (e.kind == kind) return e.name;
  return "?";
}

bool parse_engine_kind(const std::string& text, EngineKind& kind) {
  for (const EngineEntry& e : kEngineTable)
    if (text == e.name) {
      kind = e.kind;
      return true;
    }
  return false;
}

}  // namespace imgprep
