#include "common/metrics.h"

#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace cistern {
namespace {

TEST(MetricsTest, CountersAndGaugesExportInTheTextFormat) {
  MetricsRegistry registry;
  registry.GetCounter("cistern_test_requests_total", "Requests served")->Add(3);
  registry.GetGauge("cistern_test_used_bytes", "Bytes in use")->Set(1.5);
  const std::string text = registry.PrometheusText();
  EXPECT_TRUE(absl::StrContains(text,
                                "# HELP cistern_test_requests_total Requests served\n"
                                "# TYPE cistern_test_requests_total counter\n"
                                "cistern_test_requests_total 3\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "# TYPE cistern_test_used_bytes gauge\ncistern_test_used_bytes 1.5\n")) << text;
}

TEST(MetricsTest, RegisteringAgainReturnsTheSameMetric) {
  MetricsRegistry registry;
  Counter* a = registry.GetCounter("cistern_test_x_total");
  Counter* b = registry.GetCounter("cistern_test_x_total", "help given later");
  EXPECT_EQ(a, b);
  EXPECT_TRUE(absl::StrContains(registry.PrometheusText(), "# HELP cistern_test_x_total help given later"));
}

TEST(MetricsTest, LabelledFamiliesEscapeValuesAndSortSeries) {
  MetricsRegistry registry;
  CounterFamily* family = registry.GetCounterFamily("cistern_test_calls_total", "Calls", {"method", "code"});
  family->WithLabels({"Write", "OK"})->Add(2);
  family->WithLabels({"Read", "NOT_FOUND"})->Add(1);
  family->WithLabels({"we\"ird\\\n", "OK"})->Add(5);
  EXPECT_EQ(family->WithLabels({"Write", "OK"})->Get(), 2);
  const std::string text = registry.PrometheusText();
  const size_t read = text.find("cistern_test_calls_total{method=\"Read\",code=\"NOT_FOUND\"} 1\n");
  const size_t write = text.find("cistern_test_calls_total{method=\"Write\",code=\"OK\"} 2\n");
  ASSERT_NE(read, std::string::npos) << text;
  ASSERT_NE(write, std::string::npos) << text;
  EXPECT_LT(read, write);
  EXPECT_TRUE(absl::StrContains(text, R"(cistern_test_calls_total{method="we\"ird\\\n",code="OK"} 5)")) << text;
}

TEST(MetricsTest, HistogramsHaveCumulativeBucketsSumAndCount) {
  MetricsRegistry registry;
  HistogramFamily* family =
      registry.GetHistogramFamily("cistern_test_latency_seconds", "Latency", {"op"}, {0.5, 1, 10});
  Histogram* h = family->WithLabels({"get"});
  h->Observe(0.25);
  h->Observe(0.5);  // on a bound: counted in that bucket (le = less or equal)
  h->Observe(5);
  h->Observe(100);
  const std::string text = registry.PrometheusText();
  for (const char* line : {"cistern_test_latency_seconds_bucket{op=\"get\",le=\"0.5\"} 2\n",
                           "cistern_test_latency_seconds_bucket{op=\"get\",le=\"1\"} 2\n",
                           "cistern_test_latency_seconds_bucket{op=\"get\",le=\"10\"} 3\n",
                           "cistern_test_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n",
                           "cistern_test_latency_seconds_sum{op=\"get\"} 105.75\n",
                           "cistern_test_latency_seconds_count{op=\"get\"} 4\n"}) {
    EXPECT_TRUE(absl::StrContains(text, line)) << line << "\n" << text;
  }
  EXPECT_EQ(h->count(), 4u);
}

TEST(MetricsTest, CollectorsRunAtScrapeTimeAndStopWhenTheirHandleGoes) {
  MetricsRegistry registry;
  double used = 10;
  {
    CollectorHandle handle = registry.AddCollector([&](MetricSink* sink) {
      sink->AddGauge("cistern_test_tier_used_bytes", "Used", {{"tier", "MEM"}}, used);
      sink->AddGauge("cistern_test_tier_used_bytes", "Used", {{"tier", "SSD"}}, 2 * used);
      sink->AddCounter("cistern_test_terms_total", "Terms", {}, 7);
    });
    EXPECT_TRUE(absl::StrContains(registry.PrometheusText(), "cistern_test_tier_used_bytes{tier=\"MEM\"} 10\n"));
    used = 20;
    const std::string text = registry.PrometheusText();
    EXPECT_TRUE(absl::StrContains(text, "cistern_test_tier_used_bytes{tier=\"MEM\"} 20\n")) << text;
    EXPECT_TRUE(absl::StrContains(text, "cistern_test_tier_used_bytes{tier=\"SSD\"} 40\n")) << text;
    EXPECT_TRUE(absl::StrContains(text, "# TYPE cistern_test_terms_total counter\ncistern_test_terms_total 7\n"));
    EXPECT_EQ(registry.Snapshot().at("cistern_test_tier_used_bytes{tier=\"SSD\"}"), 40);
  }
  EXPECT_FALSE(absl::StrContains(registry.PrometheusText(), "cistern_test_tier_used_bytes"));
}

TEST(MetricsTest, TwoCollectorsOfOneSeriesAreSummed) {
  MetricsRegistry registry;
  CollectorHandle a = registry.AddCollector(
      [](MetricSink* sink) { sink->AddGauge("cistern_test_blocks", "", {{"tier", "MEM"}}, 1); });
  CollectorHandle b = registry.AddCollector(
      [](MetricSink* sink) { sink->AddGauge("cistern_test_blocks", "", {{"tier", "MEM"}}, 2); });
  EXPECT_EQ(registry.Snapshot().at("cistern_test_blocks{tier=\"MEM\"}"), 3);
  CollectorHandle moved = std::move(a);
  moved.Reset();
  EXPECT_EQ(registry.Snapshot().at("cistern_test_blocks{tier=\"MEM\"}"), 2);
}

TEST(MetricsTest, UpdatesFromManyThreadsAreNotLost) {
  MetricsRegistry registry;
  Counter* counter = registry.GetCounter("cistern_test_ops_total");
  Histogram* h = registry.GetHistogramFamily("cistern_test_op_seconds", "", {})->WithLabels(std::vector<std::string>{});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter->Increment();
        h->Observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter->Get(), 40000);
  EXPECT_EQ(h->count(), 40000u);
  EXPECT_NEAR(h->sum(), 40.0, 1e-6);
}

TEST(MetricsTest, NamesAreChecked) {
  EXPECT_TRUE(IsValidMetricName("cistern_worker_cache_read_bytes_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_c1"));
  EXPECT_FALSE(IsValidMetricName("worker.bytes_read"));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName(""));
  MetricsRegistry registry;
  EXPECT_DEATH(registry.GetCounter("cistern_test_requests"), "must end in _total");
  EXPECT_DEATH(registry.GetGauge("cistern_test_gauge_total"), "not a counter");
  EXPECT_DEATH(registry.GetCounter("worker.bytes_total"), "invalid metric name");
  registry.GetGauge("cistern_test_g");
  EXPECT_DEATH(registry.GetGaugeFamily("cistern_test_g", "", {"x"}), "registered again");
  EXPECT_DEATH(registry.GetCounterFamily("cistern_test_l_total", "", {"__bad"}), "invalid label name");
}

TEST(MetricsTest, ProcessMetricsAreReal) {
  RegisterProcessMetrics("test");
  RegisterProcessMetrics("test");  // idempotent
  const std::map<std::string, int64_t> snapshot = Metrics().Snapshot();
  ASSERT_TRUE(snapshot.contains("process_resident_memory_bytes"));
  EXPECT_GT(snapshot.at("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(snapshot.at("process_open_fds"), 2);
  EXPECT_GT(snapshot.at("process_start_time_seconds"), 1'600'000'000);
  EXPECT_TRUE(absl::StrContains(Metrics().PrometheusText(), "cistern_build_info{daemon=\"test\",version=\""));
}

}  // namespace
}  // namespace cistern
