// Prometheus metrics of the daemon, rendered in the text exposition format (version 0.0.4) at
// /metrics. A small registry of counters, gauges and histograms with label sets; families and
// series are rendered in name order, so the output is stable. Thread-safe.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>

namespace aiops::server {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  // Declares a family (help text and type); series of undeclared families are rejected.
  void DeclareCounter(const std::string& name, const std::string& help);
  void DeclareGauge(const std::string& name, const std::string& help);
  void DeclareHistogram(const std::string& name, const std::string& help,
                        std::vector<double> bounds);

  void Add(const std::string& name, const MetricLabels& labels, double delta = 1);
  void Set(const std::string& name, const MetricLabels& labels, double value);
  // Replaces every series of a gauge family at once (e.g. incidents by state).
  void SetAll(const std::string& name, const std::vector<std::pair<MetricLabels, double>>& series);
  void Observe(const std::string& name, const MetricLabels& labels, double value);

  // The value of one counter or gauge series (0 when absent), for tests.
  double Value(const std::string& name, const MetricLabels& labels) const;

  std::string Render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> counts;  // per bound, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    std::string help;
    std::string type;  // counter | gauge | histogram
    std::vector<double> bounds;
    std::map<std::string, double> values;         // by rendered label set
    std::map<std::string, Histogram> histograms;  // by rendered label set
  };
  static std::string RenderLabels(const MetricLabels& labels, const std::string& extra = "");

  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aiops::server
