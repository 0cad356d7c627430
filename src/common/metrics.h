// The process's metrics: counters, gauges and histograms, optionally with labels, plus
// collectors (callbacks run at scrape time for values that live elsewhere: tier usage, Raft
// state, worker tables). Exported in the Prometheus text format (`/metrics`, see
// PrometheusText) and as a flat name -> value map (the worker's GetMetrics RPC).
//
// Names follow Prometheus conventions and are checked at registration: [a-zA-Z_:][a-zA-Z0-9_:]*,
// base units as suffixes (`_bytes`, `_seconds`), counters end in `_total`. Every metric of the
// project is prefixed `cistern_`, except the standard `process_*` ones. docs/operations.md lists
// them all.
//
// Registering a name again returns the same metric (so two components may share one); the same
// name with another type or other label names is a programming error and aborts.
//
// Thread safety: everything is thread-safe. Counter, Gauge and Histogram updates are lock-free
// atomics; finding a labelled child takes the family's lock, so hot paths keep the pointer
// (children live as long as the registry). Collectors run under the registry's collector lock:
// a collector must not register metrics or collectors itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace cistern {

// (name, value) pairs of one series.
using LabelPairs = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Increment() { Add(1); }
  int64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then the +Inf bucket (== count).
  std::vector<uint64_t> CumulativeCounts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t count() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 (last: above every bound)
  std::atomic<double> sum_{0};
};

// Latency buckets from 100 us to 60 s, roughly x2.5 apart: RPCs and under-store requests.
const std::vector<double>& LatencyBucketsSeconds();

enum class MetricType { kCounter, kGauge, kHistogram };

struct MetricSample {
  LabelPairs labels;
  double value = 0;  // counter and gauge
  // Histogram only.
  std::vector<double> bounds;
  std::vector<uint64_t> cumulative_counts;  // bounds.size() + 1 entries
  double sum = 0;
  uint64_t count = 0;
};

struct MetricFamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<MetricSample> samples;
};

// What a collector emits into at scrape time.
class MetricSink {
 public:
  virtual ~MetricSink() = default;
  virtual void AddGauge(std::string_view name, std::string_view help, LabelPairs labels, double value) = 0;
  // For totals kept elsewhere (e.g. a Raft core's counters); the name must end in _total.
  virtual void AddCounter(std::string_view name, std::string_view help, LabelPairs labels, double value) = 0;
};

using Collector = std::function<void(MetricSink*)>;

template <typename Metric>
class MetricFamily;

class MetricsRegistry;

// Removes its collector when destroyed; after that the collector never runs again (so it may
// capture `this` of its owner). Move-only.
class CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(MetricsRegistry* registry, uint64_t id) : registry_(registry), id_(id) {}
  CollectorHandle(CollectorHandle&& other) noexcept { *this = std::move(other); }
  CollectorHandle& operator=(CollectorHandle&& other) noexcept;
  ~CollectorHandle() { Reset(); }
  void Reset();

 private:
  MetricsRegistry* registry_ = nullptr;
  uint64_t id_ = 0;
};

// One metric name with its label names; each distinct label value tuple is a child.
template <typename Metric>
class MetricFamily {
 public:
  MetricFamily(std::vector<std::string> label_names, std::function<std::unique_ptr<Metric>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  // REQUIRES: as many values as label names (a mismatch aborts).
  Metric* WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::vector<std::string>(values.begin(), values.end()));
  }
  Metric* WithLabels(const std::vector<std::string>& values);

  const std::vector<std::string>& label_names() const { return label_names_; }
  // (label values, metric) of every child, for export.
  std::vector<std::pair<std::vector<std::string>, const Metric*>> Children() const;

 private:
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Metric>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Unlabelled metrics; the pointers stay valid for the registry's lifetime.
  Counter* GetCounter(std::string_view name, std::string_view help = "");
  Gauge* GetGauge(std::string_view name, std::string_view help = "");

  CounterFamily* GetCounterFamily(std::string_view name, std::string_view help, std::vector<std::string> labels);
  GaugeFamily* GetGaugeFamily(std::string_view name, std::string_view help, std::vector<std::string> labels);
  HistogramFamily* GetHistogramFamily(std::string_view name, std::string_view help, std::vector<std::string> labels,
                                      std::vector<double> bounds = LatencyBucketsSeconds());

  [[nodiscard]] CollectorHandle AddCollector(Collector collector);

  // Every family (registered and collected), sorted by name; series of one family sorted by
  // labels; collected series with the same name and labels are summed.
  std::vector<MetricFamilySnapshot> Collect() const;
  // Collect() in the Prometheus text exposition format 0.0.4.
  std::string PrometheusText() const;
  // Counters and gauges as "name" or "name{k=\"v\",...}" -> value (rounded), for GetMetrics.
  std::map<std::string, int64_t> Snapshot() const;
  // One entry of Snapshot() (0 if absent), e.g. Value("cistern_worker_cached_blocks").
  int64_t Value(std::string_view series) const;

 private:
  friend class CollectorHandle;
  struct Family {
    MetricType type;
    std::string help;
    std::vector<std::string> label_names;
    std::unique_ptr<CounterFamily> counters;
    std::unique_ptr<GaugeFamily> gauges;
    std::unique_ptr<HistogramFamily> histograms;
  };
  Family* FindOrAdd(std::string_view name, std::string_view help, MetricType type, std::vector<std::string> labels)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveCollector(uint64_t id);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  // Separate from mu_ so that a slow collector does not block registration; lock order:
  // collectors_mu_ before nothing else of the registry.
  mutable absl::Mutex collectors_mu_;
  uint64_t next_collector_id_ ABSL_GUARDED_BY(collectors_mu_) = 1;
  std::map<uint64_t, Collector> collectors_ ABSL_GUARDED_BY(collectors_mu_);
};

// The process's registry.
MetricsRegistry& Metrics();

// Adds the standard process metrics (process_start_time_seconds, process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds) and cistern_build_info{daemon,version} to
// the process registry. Idempotent.
void RegisterProcessMetrics(std::string_view daemon);

// Whether `name` is a valid Prometheus metric name.
bool IsValidMetricName(std::string_view name);

}  // namespace cistern
