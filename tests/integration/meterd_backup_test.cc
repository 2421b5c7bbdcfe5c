// meterd — tests/integration/meterd_backup_test.cc: `meterctl backup --to DIR` on a running
// meterd that is being ingested into, then `meterd --data-dir DIR` on the copy, compared with
// the source: the raw samples are exactly the batches acknowledged up to some point (every one
// acknowledged before the backup began, none twice, none half), and the ledger is the source's
// up to the backup point (a top-up after it is not in the copy) with the balance it sums to.
#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <thread>

#include "tests/integration/meterd_fixture.h"

namespace meterd::testing {
namespace {

constexpr uint32_t kSamplesPerBatch = 10;

class MeterdBackupTest : public MeterdTest {};

TEST_F(MeterdBackupTest, ABackupTakenDuringIngestServesTheSourceAsOfTheBackupPoint) {
  const std::string catalog = std::string(METERD_SOURCE_DIR) + "/docs/examples/catalog.yaml";
  ASSERT_EQ(Meterctl("apply " + catalog).exit_code, 0);
  ASSERT_EQ(Meterctl("topup --account bu1user1 --amount 25.50 --reference pay-1").exit_code, 0);
  auto admin = Admin();
  ASSERT_TRUE(admin->DefineSeries({{"vm-backup", "vm.vcpus"}}).ok());
  const uint64_t id = net::SeriesIdOf("vm-backup", "vm.vcpus");
  const int64_t base = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() -
                       20000;

  // A writer that keeps ingesting through the backup, one batch of 10 seconds at a time.
  std::atomic<uint64_t> acked{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    auto c = Admin();
    c->set_ack_callback([&](const net::IngestAckInfo& a) {
      if (a.accepted == kSamplesPerBatch) acked.fetch_add(1);
    });
    for (uint64_t seq = 1; seq <= 1500 && !stop.load(); ++seq) {
      net::IngestBatchData b;
      b.agent = "backup-writer";
      b.sequence = seq;
      b.base_time = base + static_cast<int64_t>(seq) * kSamplesPerBatch;
      for (uint32_t i = 0; i < kSamplesPerBatch; ++i) {
        b.series.push_back(id);
        b.offsets.push_back(i);
        b.values.push_back(seq);
      }
      ASSERT_TRUE(c->SendBatch(seq, net::BuildIngestFrame(b)).ok());
      if (seq % 8 == 0) ASSERT_TRUE(c->WaitForAcks(std::chrono::milliseconds(1)).ok());
    }
    ASSERT_TRUE(c->Drain().ok());
  });
  while (acked.load() < 100) std::this_thread::yield();

  const uint64_t acked_before = acked.load();
  const std::string to = tmp_.path() + "/backup";
  CommandResult backup = Meterctl("backup --to " + to);
  ASSERT_EQ(backup.exit_code, 0) << backup.out << backup.err;
  EXPECT_NE(backup.out.find("hard links"), std::string::npos) << backup.out;
  const uint64_t acked_after = acked.load();
  // After the backup point: a top-up the copy must not have, and more batches.
  ASSERT_EQ(Meterctl("topup --account bu1user1 --amount 4 --reference pay-2").exit_code, 0);
  stop = true;
  writer.join();
  // A second backup into the same directory is refused, and nothing is overwritten.
  CommandResult again = Meterctl("backup --to " + to);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("exists already"), std::string::npos) << again.err;

  // meterd on the copy, without its billing clock: started, it would book the hours and fees
  // due since the backup point under entry ids the source has given to later entries.
  bench::ServerProcess copy;
  ASSERT_TRUE(copy.Start(METERD_BIN, to, {"--no-billing-clock"}, /*fresh=*/false).ok())
      << "see " << to << ".log";
  net::ClientOptions o = Options(copy.admin_key());
  o.port = copy.port();
  net::Client c(o);
  ASSERT_TRUE(c.Connect().ok());
  std::map<uint64_t, uint32_t> samples_of_batch;
  size_t wrong = 0;
  for (const Exported& e : ExportAll(&c, base, base + 100000, "vm-backup", "vm.vcpus")) {
    const uint64_t seq = static_cast<uint64_t>((e.ts - base) / kSamplesPerBatch);
    if (e.value != seq) ++wrong;
    ++samples_of_batch[seq];
  }
  EXPECT_EQ(wrong, 0u);
  // Batches 1..k, each whole: a prefix of what was sent, at least what was acknowledged before
  // the backup began.
  const uint64_t k = samples_of_batch.empty() ? 0 : samples_of_batch.rbegin()->first;
  EXPECT_EQ(samples_of_batch.size(), k) << "a gap in the batches";
  for (const auto& [seq, n] : samples_of_batch) EXPECT_EQ(n, kSamplesPerBatch) << "batch " << seq;
  EXPECT_GE(k, acked_before);
  std::printf("[ backup ] acknowledged before: %llu, in the copy: %llu, after: %llu\n",
              static_cast<unsigned long long>(acked_before), static_cast<unsigned long long>(k),
              static_cast<unsigned long long>(acked_after));

  // The ledger as at the backup point: a prefix of the source's entries (by id) that holds
  // pay-1 and not pay-2 (the billing clock may book fees meanwhile), and a balance equal to the
  // sum of those entries.
  auto ledger_of = [&](uint16_t port, const std::string& key) {
    CommandResult r = RunMeterctl("--server 127.0.0.1:" + std::to_string(port) + " --key " + key +
                                  " ledger --account bu1user1 --format json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    std::map<int64_t, std::pair<std::string, int64_t>> out;  // id -> (reference, amount)
    if (j.is_object() && j.contains("entries")) {
      for (const auto& e : j["entries"]) {
        out[e.value("id", int64_t{0})] = {e.value("reference", std::string()),
                                          e.value("amount_micro", int64_t{0})};
      }
    }
    return out;
  };
  const auto source_ledger = ledger_of(server_.port(), server_.admin_key());
  const auto copy_ledger = ledger_of(copy.port(), copy.admin_key());
  ASSERT_FALSE(copy_ledger.empty());
  int64_t copy_sum = 0;
  size_t pay1 = 0, pay2 = 0;
  for (const auto& [entry_id, e] : copy_ledger) {
    auto it = source_ledger.find(entry_id);
    ASSERT_NE(it, source_ledger.end()) << "entry " << entry_id << " is not the source's";
    EXPECT_EQ(it->second, e) << "entry " << entry_id;
    copy_sum += e.second;
    pay1 += e.first == "pay-1";
    pay2 += e.first == "pay-2";
  }
  for (const auto& [entry_id, e] : source_ledger) {
    if (entry_id > copy_ledger.rbegin()->first) break;
    EXPECT_EQ(copy_ledger.count(entry_id), 1u) << "the copy misses entry " << entry_id;
  }
  EXPECT_EQ(pay1, 1u);
  EXPECT_EQ(pay2, 0u);
  CommandResult copy_balance =
      RunMeterctl("--server 127.0.0.1:" + std::to_string(copy.port()) + " --key " +
                  copy.admin_key() + " balance --account bu1user1 --format json");
  ASSERT_EQ(copy_balance.exit_code, 0) << copy_balance.err;
  auto got = nlohmann::json::parse(copy_balance.out, nullptr, false);
  ASSERT_TRUE(got.is_object() && got.contains("balances") && got["balances"].size() == 1)
      << copy_balance.out;
  EXPECT_EQ(got["balances"][0].value("balance_micro", int64_t{-1}), copy_sum);
  c.Close();
  copy.Stop();
}

}  // namespace
}  // namespace meterd::testing
