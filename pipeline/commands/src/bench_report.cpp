#include "bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

namespace imgprep {
namespace {

using json = nlohmann::ordered_json;

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string percent(double fraction) { return format("%.0f%%", 100 * fraction); }

// "12.3" for numbers, "-" where the JSON holds null.
std::string number(const json& value, const char* pattern) {
  return value.is_number() ? format(pattern, value.get<double>()) : "-";
}

std::string pad(std::string text, size_t width, bool right) {
  if (text.size() >= width) return text;
  const std::string fill(width - text.size(), ' ');
  return right ? fill + text : text + fill;
}

std::string page_cache_words(const json& report, const json& tier) {
  std::vector<double> resident = tier["page_cache_resident"].get<std::vector<double>>();
  double mean = 0;
  for (double r : resident) mean += r / static_cast<double>(resident.size());
  return (report["cold"].get<bool>() ? "dropped before each run, " : "") + percent(mean) +
         " resident";
}

std::string escape_xml(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

void print_header(const json& report, std::ostream& out) {
  const json& c = report["config"];
  const json& m = report["machine"];
  out << "imgprep bench: " << report["images"].get<size_t>() << " inputs in "
      << report["input"].get<std::string>() << "\n"
      << "  preprocessing: resize " << c["resize"].get<std::string>() << ", crop "
      << c["crop"].get<std::string>() << ", " << c["interp"].get<std::string>()
      << (c["antialias"].get<bool>() ? " antialiased" : "") << ", "
      << c["dtype"].get<std::string>() << " " << c["layout"].get<std::string>() << ", format "
      << c["format"].get<std::string>() << "\n"
      << "  machine: " << m["cores"].get<int>() << " cores, " << m["cpu"].get<std::string>()
      << ", " << m["kernel"].get<std::string>() << "; " << report["date"].get<std::string>()
      << "\n"
      << "  " << report["repeat"].get<int>() << " timed runs per tier after "
      << report["warmup"].get<int>() << " warm-up; page cache at start: "
      << percent(report["page_cache_resident_at_start"].get<double>())
      << " of the input bytes resident";
  if (report["io_latency_ms"].get<double>() > 0)
    out << "; simulated storage latency " << report["io_latency_ms"].get<double>()
        << " ms per file";
  out << "\n";
}

double images_in(const json& tier) {
  return tier["ok"].get<double>() + tier["failed"].get<double>();
}

void print_progress(const json& tier, std::ostream& out) {
  out << "  " << pad(tier["tier"].get<std::string>(), 8, false);
  if (!tier["available"].get<bool>()) {
    out << "not available: " << tier["reason"].get<std::string>() << "\n";
    return;
  }
  std::vector<double> runs = tier["runs_s"].get<std::vector<double>>();
  std::sort(runs.begin(), runs.end());
  out << format("%.1f images/s (best run)", images_in(tier) / runs.front()) << ", "
      << tier["parallelism"].get<std::string>() << "\n";
}

void print_table(const json& report, std::ostream& out) {
  const json& tiers = report["tiers"];
  out << "\n"
      << pad("tier", 9, false) << pad("images/s", 10, true) << pad("MB/s", 9, true)
      << pad("x serial", 10, true) << pad("of ceiling", 12, true) << pad("peak RSS", 12, true)
      << "  verdict\n";
  for (const json& t : tiers) {
    out << pad(t["tier"].get<std::string>(), 9, false);
    if (!t["available"].get<bool>()) {
      out << " not available: " << t["reason"].get<std::string>() << "\n";
      continue;
    }
    out << pad(number(t["images_per_s"]["median"], "%.1f"), 10, true)
        << pad(number(t["decoded_mb_per_s"], "%.1f"), 9, true)
        << pad(number(t["speedup_vs_serial"], "%.2f"), 10, true)
        << pad(t["fraction_of_ceiling"].is_number()
                   ? percent(t["fraction_of_ceiling"].get<double>())
                   : "-",
               12, true)
        << pad(number(t["peak_rss_mib"], "%.1f MiB"), 12, true) << "  "
        << t["verdict"].get<std::string>() << " ("
        << percent(t["utilisation"].get<double>()) << " busy)\n";
  }
  out << "\nper run: each stage's busy seconds (share of its threads' time), [average jobs "
         "queued before it]\n";
  for (const json& t : tiers) {
    if (!t["available"].get<bool>()) continue;
    out << "  " << pad(t["tier"].get<std::string>(), 8, false);
    bool first = true;
    for (const json& s : t["stages"]) {
      out << (first ? "" : " | ") << s["stage"].get<std::string>() << " "
          << format("%.2f s", s["busy_s"].get<double>()) << " ("
          << percent(s["utilisation"].get<double>());
      if (s["threads"].get<int>() > 1) out << " of " << s["threads"].get<int>();
      out << ")";
      if (s["avg_queue"].is_number()) out << format(" [%.1f]", s["avg_queue"].get<double>());
      first = false;
    }
    out << "\n";
  }
  out << "\npage cache before the timed runs:";
  for (const json& t : tiers)
    if (t["available"].get<bool>())
      out << " " << t["tier"].get<std::string>() << " " << page_cache_words(report, t) << ";";
  out << "\noutputs (first warm-up run, CRC-32 of every output in input order):\n";
  for (const json& t : tiers) {
    if (!t["available"].get<bool>()) continue;
    const json& o = t["output"];
    out << "  " << pad(t["tier"].get<std::string>(), 8, false);
    if (t["tier"] == "ceiling")
      out << "decodes only: " << t["ok"].get<int64_t>() + t["failed"].get<int64_t>()
          << " of " << report["images"].get<int64_t>() << " inputs preloaded ("
          << format("%.1f MiB", t["preloaded_mib"].get<double>()) << ")\n";
    else if (!o["checked"].get<bool>())
      out << "not checked (--warmup 0)\n";
    else
      out << o["crc32"].get<std::string>() << ", " << o["ok"].get<int64_t>() << " ok, "
          << o["failed"].get<int64_t>() << " failed"
          << (o.contains("equal") ? (o["equal"].get<bool>() ? ", equal to " : ", DIFFERS from ") +
                                        o["compared_with"].get<std::string>()
                                  : "")
          << "\n";
  }
}

std::string bar_chart_svg(const json& report) {
  std::vector<const json*> bars;
  double ceiling = 0, top = 0;
  for (const json& t : report["tiers"]) {
    const bool available = t["available"].get<bool>();
    const double rate = available ? t["images_per_s"]["median"].get<double>() : 0.0;
    if (t["tier"] == "ceiling") {
      if (available) ceiling = rate;
    } else {
      bars.push_back(&t);
    }
    top = std::max(top, rate);
  }
  if (top <= 0) top = 1;
  // A round axis maximum above the highest value.
  const double step = std::pow(10.0, std::floor(std::log10(top)));
  double axis = step;
  for (double f : {1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0})
    if (f * step >= top * 1.05) {
      axis = f * step;
      break;
    }

  const int left = 90, width = 520, bar_h = 28, gap = 12, top_y = 76;
  const int plot_h = static_cast<int>(bars.size()) * (bar_h + gap);
  const int height = top_y + plot_h + 44;
  const auto x_of = [&](double v) { return left + v / axis * width; };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + width + 40
      << "\" height=\"" << height << "\" font-family=\"sans-serif\" font-size=\"13\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left << "\" y=\"24\" font-size=\"15\" font-weight=\"bold\">"
      << escape_xml("imgprep bench: " + std::to_string(report["images"].get<size_t>()) +
                    " inputs, " + report["input"].get<std::string>())
      << "</text>\n<text x=\"" << left << "\" y=\"42\" fill=\"#555\">"
      << escape_xml("median images/s per tier; " +
                    std::to_string(report["machine"]["cores"].get<int>()) + " cores, " +
                    report["date"].get<std::string>())
      << "</text>\n";
  for (int i = 0; i <= 5; ++i) {
    const double v = axis * i / 5, x = x_of(v);
    svg << "<line x1=\"" << x << "\" y1=\"" << top_y - 4 << "\" x2=\"" << x << "\" y2=\""
        << top_y + plot_h << "\" stroke=\"#ddd\"/>\n"
        << "<text x=\"" << x << "\" y=\"" << top_y + plot_h + 16
        << "\" text-anchor=\"middle\" fill=\"#555\">" << format("%g", v) << "</text>\n";
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const json& t = *bars[i];
    const int y = top_y + static_cast<int>(i) * (bar_h + gap);
    svg << "<text x=\"" << left - 8 << "\" y=\"" << y + bar_h / 2 + 5
        << "\" text-anchor=\"end\">" << escape_xml(t["tier"].get<std::string>()) << "</text>\n";
    if (!t["available"].get<bool>()) {
      svg << "<text x=\"" << left + 6 << "\" y=\"" << y + bar_h / 2 + 5 << "\" fill=\"#888\">"
          << escape_xml("not available: " + t["reason"].get<std::string>()) << "</text>\n";
      continue;
    }
    const double rate = t["images_per_s"]["median"].get<double>();
    svg << "<rect x=\"" << left << "\" y=\"" << y << "\" width=\"" << x_of(rate) - left
        << "\" height=\"" << bar_h << "\" fill=\"#4878a8\"/>\n"
        << "<text x=\"" << x_of(rate) + 6 << "\" y=\"" << y + bar_h / 2 + 5 << "\">"
        << format("%.0f", rate) << "</text>\n";
  }
  if (ceiling > 0) {
    const double x = x_of(ceiling);
    svg << "<line x1=\"" << x << "\" y1=\"" << top_y - 8 << "\" x2=\"" << x << "\" y2=\""
        << top_y + plot_h << "\" stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n"
        << "<text x=\"" << x << "\" y=\"" << top_y - 14
        << "\" text-anchor=\"middle\" fill=\"#c0392b\">"
        << escape_xml("decode-only ceiling " + format("%.0f", ceiling)) << "</text>\n";
  }
  svg << "<text x=\"" << left + width / 2 << "\" y=\"" << height - 4
      << "\" text-anchor=\"middle\" fill=\"#555\">images/s</text>\n</svg>\n";
  return svg.str();
}

}  // namespace imgprep
