// meterd — net/meterctl/usage_cmd.cc
#include "net/meterctl/usage_cmd.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/catalog.h"
#include "net/meterctl/csv_time.h"
#include "net/meterctl/usage_format.h"
#include "net/protocol/messages.h"
#include "storage/sample_batch.h"

namespace meterd::cli {
namespace {

std::string ValueText(wire::ValueType type, uint64_t bits) {
  return type == wire::ValueType::Float ? FormatDouble(storage::BitsToDouble(bits))
                                        : std::to_string(bits);
}

std::string StatusText(const wire::UsageLine& l) {
  std::string s;
  auto add = [&s](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (l.provisional_hours() > 0) {
    add(l.provisional_hours() == l.hours()
            ? std::string("provisional")
            : "provisional " + std::to_string(l.provisional_hours()) + "h");
  }
  if (l.revised_hours() > 0) {
    add("revised r" + std::to_string(l.max_revision()) +
        (l.revised_hours() > 1 ? " (" + std::to_string(l.revised_hours()) + "h)" : ""));
  }
  if (l.imported_hours() > 0) add("imported");
  return s.empty() ? "final" : s;
}

unsigned __int128 U128(uint64_t hi, uint64_t lo) {
  return (static_cast<unsigned __int128>(hi) << 64) | lo;
}

struct Printer {
  Format format;
  Table table{{"resource", "metric", "state", "period", "quantity", "unit", "samples", "min", "max",
               "avg", "status"}};
  nlohmann::json json = nlohmann::json::array();
  uint64_t lines = 0;

  Printer(Format f) : format(f) {
    for (size_t c : {4, 6, 7, 8, 9}) table.SetNumeric(c);
  }

  void Add(const wire::UsageLine& l) {
    ++lines;
    const std::string resource(net::View(l.resource()));
    const std::string metric(net::View(l.metric()));
    const std::string unit(net::View(l.unit()));
    const std::string period = FormatRfc3339(l.start());
    const std::string status = StatusText(l);
    const std::string samples = std::to_string(l.count());
    nlohmann::json j = {{"resource", resource},
                        {"metric", metric},
                        {"period_start", period},
                        {"kind", wire::EnumNameMetricKind(l.kind())},
                        {"hours", l.hours()},
                        {"provisional_hours", l.provisional_hours()},
                        {"revised_hours", l.revised_hours()},
                        {"max_revision", l.max_revision()},
                        {"imported_hours", l.imported_hours()},
                        {"samples", l.count()},
                        {"status", status}};
    if (l.last_revised_at() > 0) j["last_revised_at"] = FormatRfc3339(l.last_revised_at());
    switch (l.kind()) {
      case wire::MetricKind::Gauge: {
        const GaugeUnit gu = GaugeBillingUnit(unit);
        std::string quantity;
        if (l.type() == wire::ValueType::Float) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%.6f",
                        l.float_integral() / static_cast<double>(gu.divisor));
          quantity = buf;
          j["integral_value_seconds"] = l.float_integral();
        } else {
          const unsigned __int128 integral = U128(l.integral_hi(), l.integral_lo());
          quantity = FormatQuotient(integral, gu.divisor, 6);
          j["integral_value_seconds"] = FormatU128(integral);  // exact, as a string
        }
        char avg[64] = "";
        if (l.count() > 0) std::snprintf(avg, sizeof avg, "%.6g", l.sum() / l.count());
        const std::string mn = ValueText(l.type(), l.min()), mx = ValueText(l.type(), l.max());
        table.Add({resource, metric, "", period, quantity, gu.unit, samples, mn, mx, avg, status});
        j["quantity"] = quantity;
        j["unit"] = gu.unit;
        j["held_seconds"] = l.held_seconds();
        j["min"] = mn;
        j["max"] = mx;
        j["avg"] = avg;
        json.push_back(std::move(j));
        return;
      }
      case wire::MetricKind::Counter: {
        const std::string increase = FormatU128(U128(l.increase_hi(), l.increase_lo()));
        const std::string mn = ValueText(l.type(), l.min()), mx = ValueText(l.type(), l.max());
        table.Add({resource, metric, "", period, increase, unit, samples, mn, mx, "", status});
        j["quantity"] = increase;
        j["unit"] = unit;
        j["resets"] = l.resets();
        j["min"] = mn;
        j["max"] = mx;
        json.push_back(std::move(j));
        return;
      }
      default: {
        nlohmann::json states = nlohmann::json::object();
        if (l.state_seconds()) {
          for (uint32_t code = 0; code < l.state_seconds()->size(); ++code) {
            const uint64_t secs = l.state_seconds()->Get(code);
            if (secs == 0) continue;
            const std::string name = engine::VmStateName(code);
            const std::string label = name == "unknown" ? "state" + std::to_string(code) : name;
            states[label] = secs;
            table.Add({resource, metric, label, period, std::to_string(secs), "s", samples, "", "",
                       "", status});
          }
        }
        j["state_seconds"] = states;
        j["unit"] = "s";
        j["held_seconds"] = l.held_seconds();
        json.push_back(std::move(j));
        return;
      }
    }
  }

  void Print() {
    if (format == Format::kJson) {
      std::printf("%s\n", json.dump(2).c_str());
    } else {
      table.Print(format);
    }
  }
};

}  // namespace

int RunUsage(net::Client* client, const net::UsageQuery& query, Format format) {
  Printer printer(format);
  std::vector<std::string> damaged;
  int64_t sealed_before = 0;
  uint64_t rows_scanned = 0;
  Status st = client->Usage(query, [&](const wire::UsageChunk& chunk) {
    sealed_before = chunk.sealed_before();
    rows_scanned += chunk.rows_scanned();
    if (chunk.damaged_blocks()) {
      for (const auto* d : *chunk.damaged_blocks()) damaged.emplace_back(net::View(d));
    }
    if (!chunk.lines()) return;
    for (const wire::UsageLine* l : *chunk.lines()) printer.Add(*l);
  });
  if (!st.ok()) {
    std::fprintf(stderr, "meterctl: %s\n", st.ToString().c_str());
    return 1;
  }
  printer.Print();
  for (const auto& d : damaged) {
    std::fprintf(stderr, "meterctl: damaged rollup block not served: %s\n", d.c_str());
  }
  std::fprintf(stderr,
               "meterctl: %llu usage lines from %llu hourly buckets; hours from %s on are "
               "provisional\n",
               static_cast<unsigned long long>(printer.lines),
               static_cast<unsigned long long>(rows_scanned), FormatRfc3339(sealed_before).c_str());
  return damaged.empty() ? 0 : 1;
}

int RunRollupRebuild(net::Client* client, int64_t from, int64_t to, const std::string& resource,
                     const std::string& metric, Format format) {
  flatbuffers::FlatBufferBuilder fbb(256);
  const uint64_t id = client->NextRequestId();
  auto req = wire::CreateRollupRebuild(fbb, id, from, to, fbb.CreateString(resource),
                                       fbb.CreateString(metric));
  // A rebuild of a long range reads much raw data: allow it the time it needs.
  auto bytes = client->Call(net::FinishFrame(fbb, req), id);
  if (!bytes.ok()) {
    std::fprintf(stderr, "meterctl: %s\n", bytes.status().ToString().c_str());
    return 1;
  }
  const auto* rep = wire::GetEnvelope(bytes.value().data())->message_as_RollupRebuildReply();
  if (!rep) {
    std::fprintf(stderr, "meterctl: unexpected answer to RollupRebuild\n");
    return 1;
  }
  Table c({"resource", "metric", "hour", "change"});
  if (rep->first_changes()) {
    for (const auto* b : *rep->first_changes()) {
      c.Add({std::string(net::View(b->resource())), std::string(net::View(b->metric())),
             FormatRfc3339(b->hour()),
             b->revision() == 0 ? "open bucket replaced"
                                : "revision " + std::to_string(b->revision())});
    }
  }
  if (format == Format::kJson) {
    // One document: the counts, what happened in each hour where something was rebuilt or
    // kept, and the first changed buckets the server itemised.
    nlohmann::json hours = nlohmann::json::array();
    if (rep->by_hour()) {
      for (const wire::RebuildHour* h : *rep->by_hour()) {
        hours.push_back({{"hour", FormatRfc3339(h->hour())},
                         {"rebuilt", h->rebuilt()},
                         {"unchanged", h->unchanged()},
                         {"kept_imported", h->kept_imported()},
                         {"kept_without_raw", h->kept_without_raw()}});
      }
    }
    nlohmann::json j = {{"series", rep->series()},
                        {"buckets", rep->hours()},
                        {"unchanged", rep->unchanged()},
                        {"open_replaced", rep->open_replaced()},
                        {"revisions", rep->revisions()},
                        {"kept_imported", rep->kept_imported()},
                        {"kept_without_raw", rep->kept_without_raw()},
                        {"seconds", rep->seconds()},
                        {"by_hour", std::move(hours)},
                        {"first_changes", c.Json()}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  Table t({"series", "buckets", "unchanged", "open_replaced", "revisions", "kept_imported",
           "kept_without_raw", "seconds"});
  for (size_t col = 0; col < 8; ++col) t.SetNumeric(col);
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", rep->seconds());
  t.Add({std::to_string(rep->series()), std::to_string(rep->hours()),
         std::to_string(rep->unchanged()), std::to_string(rep->open_replaced()),
         std::to_string(rep->revisions()), std::to_string(rep->kept_imported()),
         std::to_string(rep->kept_without_raw()), secs});
  t.Print(format);
  if (rep->by_hour() && rep->by_hour()->size() > 0) {
    // Consecutive hours with the same counts share a line: a month imported for a fleet is one
    // line, not 744.
    Table h({"from", "to", "hours", "rebuilt", "unchanged", "kept_imported", "kept_without_raw"});
    for (size_t col = 2; col < 7; ++col) h.SetNumeric(col);
    const auto& list = *rep->by_hour();
    auto same = [](const wire::RebuildHour* a, const wire::RebuildHour* b) {
      return a->rebuilt() == b->rebuilt() && a->unchanged() == b->unchanged() &&
             a->kept_imported() == b->kept_imported() &&
             a->kept_without_raw() == b->kept_without_raw();
    };
    for (uint32_t i = 0; i < list.size();) {
      uint32_t j = i + 1;
      while (j < list.size() && list.Get(j)->hour() == list.Get(j - 1)->hour() + 3600 &&
             same(list.Get(i), list.Get(j))) {
        ++j;
      }
      const wire::RebuildHour* r = list.Get(i);
      h.Add({FormatRfc3339(r->hour()), FormatRfc3339(list.Get(j - 1)->hour() + 3600),
             std::to_string(j - i), std::to_string(r->rebuilt()), std::to_string(r->unchanged()),
             std::to_string(r->kept_imported()), std::to_string(r->kept_without_raw())});
      i = j;
    }
    std::printf("\nhours where buckets were rebuilt or kept (counts per hour):\n");
    h.Print(format);
  }
  if (rep->first_changes() && rep->first_changes()->size() > 0) {
    std::printf("\nchanged buckets (first %zu):\n",
                static_cast<size_t>(rep->first_changes()->size()));
    c.Print(format);
  }
  if (rep->kept_imported() > 0) {
    std::fprintf(stderr,
                 "meterctl: %llu imported buckets kept: a rebuild never recomputes usage "
                 "imported by backfill\n",
                 static_cast<unsigned long long>(rep->kept_imported()));
  }
  if (rep->kept_without_raw() > 0) {
    std::fprintf(stderr,
                 "meterctl: %llu sealed buckets kept: their raw samples are gone (raw "
                 "retention)\n",
                 static_cast<unsigned long long>(rep->kept_without_raw()));
  }
  return 0;
}

}  // namespace meterd::cli
