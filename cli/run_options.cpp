#include "run_options.h"

#include <memory>

namespace imgprep {

RunOptionsParser::RunOptionsParser(CLI::App& c, ConfigFor use) : use_(use) {
  c.add_option("INPUT", input_, "folder of images (walked recursively) or a list file")
      ->required()
      ->group("Inputs");
  // The help lists the groups in the order they first appear.
  if (use == ConfigFor::run)
    c.add_option("-o,--output", output_, "output folder")->required()->group("Output");
  c.add_option("--preset", preset_,
               "imagenet, clip or yolo: sets --resize, --crop and the values; explicit options "
               "override it (default none)")
      ->group("Geometry");
  for (const Setting& s : settings()) {
    if (s.run_only && use == ConfigFor::bench) continue;
    auto given = std::make_unique<Given>(Given{&s, nullptr, {}});
    const std::string names =
        (s.short_name ? "-" + std::string(s.short_name) + "," : std::string()) + "--" + s.name;
    const std::string help = use == ConfigFor::bench && s.bench_help ? s.bench_help : s.help;
    if (s.kind == Setting::Kind::flag) {
      given->option = c.add_flag(names, help)->group(s.group);
    } else {
      CLI::Option* option = c.add_option(names, given->value, help)->group(s.group);
      if (s.kind == Setting::Kind::integer || s.kind == Setting::Kind::big_integer)
        option->type_name("INT");
      if (s.kind == Setting::Kind::number) option->type_name("FLOAT");
      given->option = option;
    }
    options_.push_back(std::move(given));
  }
}

Options RunOptionsParser::resolve() const {
  std::vector<Override> overrides;
  for (const auto& given : options_)
    if (given->option->count() > 0) overrides.push_back({given->setting->name, given->value});
  Options o = resolve_config(preset_, overrides, use_);
  o.input = input_;
  o.output = output_;
  return o;
}

}  // namespace imgprep
