// meterd — tests/faults/record_log_faults_test.cc: the registries' record log (engine/registry/
// record_log.h) under a failed fdatasync and a full disk, on the fault-injecting Env.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "engine/registry/record_log.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/temp_dir.h"

namespace meterd::testing {
namespace record_log_faults_test {

using engine::RecordLog;

std::vector<std::string> ReplayAll(FaultEnv* env, const std::string& path) {
  std::vector<std::string> out;
  std::string damage;
  auto log = RecordLog::Open(
      path,
      [&](std::string_view r) {
        out.emplace_back(r);
        return Status::OK();
      },
      &damage, env);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return out;
}

// An Env whose Stat fails (EIO, EACCES) for one path, as a failing disk or a wrong mode would.
class StatFails : public FaultEnv {
 public:
  StatFails(storage::Env* base, const std::string& scratch, std::string path)
      : FaultEnv(base, scratch), path_(std::move(path)) {}
  Result<storage::PathInfo> Stat(const std::string& path) override {
    if (path == path_) return Status::IOError(path + ": stat: Input/output error");
    return FaultEnv::Stat(path);
  }

 private:
  std::string path_;
};

// A log whose Stat fails is an error, never replaced by an empty one (it was: FileExists read
// any Stat failure as "absent", and Open wrote a fresh log over the registry).
TEST(RecordLogFaultsTest, AFailedStatIsAnErrorNotAnEmptyLog) {
  TempDir dir;
  const std::string path = dir.path() + "/series.log";
  {
    std::string damage;
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &damage);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append({"a definition"}).ok());
  }
  StatFails env(storage::Env::Default(), dir.path(), path);
  std::string damage;
  auto failed = RecordLog::Open(
      path, [](std::string_view) { return Status::OK(); }, &damage, &env);
  EXPECT_TRUE(failed.status().IsIOError()) << failed.status().ToString();
  FaultEnv plain(storage::Env::Default(), dir.path());
  EXPECT_EQ(ReplayAll(&plain, path), std::vector<std::string>{"a definition"});
}

// After a failed fdatasync the log must not take later appends: their sync would succeed
// without proving the failed bytes durable, and a restart that still finds the failed records
// in the page cache would replay records whose append failed, after records appended later
// at the same offset (the failed append was longer).
TEST(RecordLogFaultsTest, AFailedSyncRefusesEveryLaterAppendUntilReopened) {
  TempDir dir;
  FaultEnv env(storage::Env::Default(), dir.path());
  const std::string path = dir.path() + "/series.log";
  {
    std::string damage;
    auto log = RecordLog::Open(
        path, [](std::string_view) { return Status::OK(); }, &damage, &env);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Append({"kept"}).ok());
    ErrorRule eio;
    eio.ops = kOpSync;
    eio.err = EIO;
    eio.times = 1;
    env.AddErrorRule(eio);
    EXPECT_TRUE((*log)->Append({"failed-1", "failed-2"}).IsIOError());
    Status later = (*log)->Append({"later"});
    EXPECT_TRUE(later.IsIOError())
        << "an append after a failed sync was taken: " << later.ToString();
  }
  // A restart with the page cache intact: the failed records may be there (their write reached
  // the kernel); no record appended after the failure is, and the order is the append order.
  ASSERT_TRUE(env.SimulatePowerLoss(PowerLossMode::kKeepUnsynced).ok());
  const std::vector<std::string> got = ReplayAll(&env, path);
  EXPECT_EQ(got, (std::vector<std::string>{"kept", "failed-1", "failed-2"}));
  std::string damage;
  auto reopened = RecordLog::Open(
      path, [](std::string_view) { return Status::OK(); }, &damage, &env);
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE((*reopened)->Append({"after restart"}).ok());
}

TEST(RecordLogFaultsTest, AWriteRefusedForSpaceIsRetriedWhenSpaceReturns) {
  TempDir dir;
  FaultEnv env(storage::Env::Default(), dir.path());
  const std::string path = dir.path() + "/series.log";
  std::string damage;
  auto log = RecordLog::Open(
      path, [](std::string_view) { return Status::OK(); }, &damage, &env);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append({"a"}).ok());
  ErrorRule full;
  full.ops = kOpWrite;
  full.err = ENOSPC;
  env.AddErrorRule(full);
  EXPECT_TRUE((*log)->Append({"b"}).IsNoSpace());
  env.ClearErrorRules();
  ASSERT_TRUE((*log)->Append({"c"}).ok());
  log->reset();
  ASSERT_TRUE(env.SimulatePowerLoss().ok());
  EXPECT_EQ(ReplayAll(&env, path), (std::vector<std::string>{"a", "c"}));
}

}  // namespace record_log_faults_test
}  // namespace meterd::testing
