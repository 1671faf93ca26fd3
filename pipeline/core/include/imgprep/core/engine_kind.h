// The engines' names (for --cpu-engine, bench's --tiers, meta.json and the messages): what
// options need to name an engine without the engines themselves (imgprep/engines/engines.h).
#pragma once

#include <string>

namespace imgprep {

// serial: one thread; threads: std::thread stages; procs: worker processes; tbb: a TBB graph;
// gpu: TBB decoding and a GPU stage.
enum class EngineKind { serial, threads, procs, tbb, gpu };
inline constexpr EngineKind kAllEngineKinds[] = {EngineKind::serial, EngineKind::threads,
                                                 EngineKind::procs, EngineKind::tbb,
                                                 EngineKind::gpu};

const char* to_string(EngineKind kind);
// The kind named `text`, or false.
bool parse_engine_kind(const std::string& text, EngineKind& kind);

}  // namespace imgprep
