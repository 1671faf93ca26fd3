// imgprep: image folders to training-ready tensors.
#include <CLI/CLI.hpp>
#include <cstring>
#include <iostream>

#include "imgprep/pipeline/procs_engine.h"
#include "imgprep/pipeline/run.h"
#include "imgprep/version.h"
#include "run_options.h"

int main(int argc, char** argv) {
  // The procs engine's worker processes are this executable with a hidden first argument;
  // they never reach the command line parser (or --help).
  if (argc > 1 && std::strcmp(argv[1], imgprep::kWorkerArgument) == 0)
    return imgprep::run_procs_worker(argc, argv);

  CLI::App app{"imgprep: image folders to training-ready tensors"};
  app.set_version_flag("--version", std::string("imgprep ") + imgprep::kVersion);
  app.require_subcommand(1);
  CLI::App* run = app.add_subcommand("run", "preprocess INPUT into OUT");
  imgprep::RunOptionsParser run_options(*run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "imgprep: " << e.what() << " (see imgprep --help)\n";
    return imgprep::kExitUsage;
  }
  try {
    if (run->parsed()) return imgprep::run_command(run_options.resolve(), std::cout, std::cerr);
  } catch (const imgprep::UsageError& e) {
    std::cerr << "imgprep: " << e.what() << "\n";
    return imgprep::kExitUsage;
  }
  return imgprep::kExitUsage;
}
