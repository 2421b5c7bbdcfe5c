// meterd — tests/testing/fault_env.cc
#include "tests/testing/fault_env.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <thread>

namespace meterd::testing {

using storage::File;
using storage::IoBackend;
using storage::OpenMode;

const char* OpName(uint32_t op) {
  switch (op) {
    case kOpWrite:
      return "write";
    case kOpSync:
      return "sync";
    case kOpCreate:
      return "create";
    case kOpRename:
      return "rename";
    case kOpRemove:
      return "remove";
    case kOpSyncDir:
      return "syncdir";
    case kOpMkdir:
      return "mkdir";
    case kOpTruncate:
      return "truncate";
    case kOpPreallocate:
      return "preallocate";
    case kOpRead:
      return "read";
  }
  return "?";
}

// One undoable change. Data entries (kData) are made durable by a Sync of their file; the
// others (directory entries) by a SyncDir of `dir`.
struct FaultEnv::Entry {
  enum Kind { kData, kCreate, kRename, kRemove, kMkdir, kRmdir } kind = kData;
  bool durable = false;
  uint64_t file_id = 0;   // kData: the file; kCreate: the new file; kRename: the moved file
  std::string path;       // kCreate/kRemove/kMkdir/kRmdir: the name; kRename: from
  std::string to;         // kRename
  std::string dir;        // directory whose sync makes it durable
  std::string trash;      // kRemove: the removed file; kRename: the replaced `to` ("" if none)
  uint64_t trash_id = 0;  // the file id of `trash`
  uint64_t offset = 0;    // kData: where old_bytes go back
  uint64_t old_size = 0;  // kData: the file's size before the change
  std::string old_bytes;  // kData: the bytes the change overwrote or cut
};

// A File whose mutating calls go through FaultEnv::Admit and are journaled.
class FaultFile : public File {
 public:
  FaultFile(FaultEnv* env, std::unique_ptr<File> base, uint64_t id)
      : env_(env), base_(std::move(base)), id_(id) {}

  Status WriteAt(uint64_t offset, std::string_view data) override {
    int64_t torn = -1;
    Status st = env_->Admit(kOpWrite, path(), &torn);
    if (!st.ok()) {
      if (torn > 0) {
        const std::string_view part = data.substr(0, std::min<size_t>(data.size(), torn));
        Status w = JournaledWrite(offset, part);
        (void)w;  // the power is gone either way
      }
      return st;
    }
    return JournaledWrite(offset, data);
  }
  Status WriteAtAndSync(uint64_t offset, std::string_view data) override {
    METERD_RETURN_IF_ERROR(WriteAt(offset, data));
    return Sync();
  }
  Status Sync() override {
    METERD_RETURN_IF_ERROR(env_->Admit(kOpSync, path(), nullptr));
    METERD_RETURN_IF_ERROR(base_->Sync());
    env_->NoteSynced(id_);
    return Status::OK();
  }
  Status ReadAt(uint64_t offset, size_t n, char* scratch, size_t* read) const override {
    env_->Sleep(kOpRead);
    return base_->ReadAt(offset, n, scratch, read);
  }
  Status Preallocate(uint64_t size) override {
    METERD_RETURN_IF_ERROR(env_->Admit(kOpPreallocate, path(), nullptr));
    METERD_ASSIGN_OR_RETURN(uint64_t old_size, base_->Size());
    if (size > old_size) env_->NoteData(id_, path(), old_size, 0, old_size, std::string());
    return base_->Preallocate(size);
  }
  Status Truncate(uint64_t size) override {
    METERD_RETURN_IF_ERROR(env_->Admit(kOpTruncate, path(), nullptr));
    METERD_ASSIGN_OR_RETURN(uint64_t old_size, base_->Size());
    std::string cut;
    if (size < old_size) METERD_RETURN_IF_ERROR(ReadRange(size, old_size - size, &cut));
    env_->NoteData(id_, path(), std::min(size, old_size), 0, old_size, std::move(cut));
    return base_->Truncate(size);
  }
  Result<uint64_t> Size() const override { return base_->Size(); }
  Status Close() override { return base_->Close(); }
  IoBackend backend() const override { return base_->backend(); }
  const std::string& path() const override { return base_->path(); }

 private:
  Status ReadRange(uint64_t offset, uint64_t n, std::string* out) const {
    out->resize(n);
    size_t got = 0;
    METERD_RETURN_IF_ERROR(base_->ReadAt(offset, n, out->data(), &got));
    out->resize(got);
    return Status::OK();
  }
  // Keeps what the write overwrites (and the old size), then writes.
  Status JournaledWrite(uint64_t offset, std::string_view data) {
    METERD_ASSIGN_OR_RETURN(uint64_t old_size, base_->Size());
    std::string old;
    if (offset < old_size) {
      METERD_RETURN_IF_ERROR(
          ReadRange(offset, std::min<uint64_t>(data.size(), old_size - offset), &old));
    }
    env_->NoteData(id_, path(), offset, data.size(), old_size, std::move(old));
    return base_->WriteAt(offset, data);
  }

  FaultEnv* const env_;
  std::unique_ptr<File> base_;
  const uint64_t id_;
};

FaultEnv::FaultEnv(storage::Env* base, std::string scratch_parent) : base_(base) {
  if (scratch_parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    scratch_parent = tmp ? tmp : "/tmp";
  }
  std::string tmpl = scratch_parent + "/meterd-fault-trash-XXXXXX";
  trash_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
}

FaultEnv::~FaultEnv() {
  if (!trash_.empty()) (void)base_->RemoveTree(trash_);
}

void FaultEnv::CrashAtOp(uint64_t n, int64_t torn_bytes) {
  std::lock_guard lock(mu_);
  crash_at_ = ops_ + n;
  crash_torn_ = torn_bytes;
}

void FaultEnv::CrashNow() {
  std::lock_guard lock(mu_);
  crashed_ = true;
}

bool FaultEnv::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

void FaultEnv::AddErrorRule(const ErrorRule& rule) {
  std::lock_guard lock(mu_);
  rules_.push_back(rule);
  rule_seen_.push_back(0);
}

void FaultEnv::ClearErrorRules() {
  std::lock_guard lock(mu_);
  rules_.clear();
  rule_seen_.clear();
}

void FaultEnv::SetDelay(uint32_t ops, std::chrono::microseconds delay) {
  std::lock_guard lock(mu_);
  for (uint32_t bit = 1; bit <= kOpRead; bit <<= 1) {
    if (ops & bit) delays_[bit] = delay;
  }
}

uint64_t FaultEnv::ops() const {
  std::lock_guard lock(mu_);
  return ops_;
}

uint64_t FaultEnv::injected_errors() const {
  std::lock_guard lock(mu_);
  return injected_;
}

std::map<std::string, uint64_t> FaultEnv::ops_by_kind() const {
  std::lock_guard lock(mu_);
  std::map<std::string, uint64_t> out;
  for (const auto& [op, n] : by_kind_) out[OpName(op)] = n;
  return out;
}

void FaultEnv::Sleep(uint32_t op) {
  std::chrono::microseconds delay{0};
  {
    std::lock_guard lock(mu_);
    auto it = delays_.find(op);
    if (it != delays_.end()) delay = it->second;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
}

void FaultEnv::Hold(uint32_t ops, std::string path_contains) {
  std::lock_guard lock(mu_);
  hold_ops_ = ops;
  hold_path_ = std::move(path_contains);
}

void FaultEnv::ReleaseHeld() {
  {
    std::lock_guard lock(mu_);
    hold_ops_ = 0;
  }
  hold_cv_.notify_all();
}

uint64_t FaultEnv::held() const {
  std::lock_guard lock(mu_);
  return held_;
}

void FaultEnv::WaitWhileHeld(uint32_t op, const std::string& path) {
  std::unique_lock lock(mu_);
  auto holds = [&] {
    return (hold_ops_ & op) != 0 &&
           (hold_path_.empty() || path.find(hold_path_) != std::string::npos);
  };
  if (!holds()) return;
  ++held_;
  hold_cv_.wait(lock, [&] { return !holds(); });
  --held_;
}

Status FaultEnv::Admit(uint32_t op, const std::string& path, int64_t* torn) {
  Sleep(op);
  WaitWhileHeld(op, path);
  std::lock_guard lock(mu_);
  ++ops_;
  ++by_kind_[op];
  if (crashed_)
    return Status::IOError(std::string("simulated power loss: ") + OpName(op) + " " + path);
  if (crash_at_ != 0 && ops_ >= crash_at_) {
    crashed_ = true;
    if (torn != nullptr && op == kOpWrite) *torn = crash_torn_;
    return Status::IOError(std::string("simulated power loss at ") + OpName(op) + " " + path);
  }
  for (size_t i = 0; i < rules_.size(); ++i) {
    const ErrorRule& r = rules_[i];
    if ((r.ops & op) == 0) continue;
    if (!r.path_contains.empty() && path.find(r.path_contains) == std::string::npos) continue;
    const uint64_t seen = ++rule_seen_[i];
    if (seen > r.skip && (r.times == UINT64_MAX || seen - r.skip <= r.times)) {
      ++injected_;
      return Status::FromErrno(std::string("injected ") + OpName(op) + " " + path, r.err);
    }
  }
  return Status::OK();
}

uint64_t FaultEnv::FileIdOf(const std::string& path) {
  auto it = file_ids_.find(path);
  if (it != file_ids_.end()) return it->second;
  const uint64_t id = next_file_id_++;
  file_ids_[path] = id;
  return id;
}

std::string FaultEnv::TrashCopy(const std::string& path) {
  const std::string copy = trash_ + "/" + std::to_string(++trash_seq_);
  if (::link(path.c_str(), copy.c_str()) != 0) return std::string();
  return copy;
}

void FaultEnv::Journal(Entry entry) { journal_.push_back(std::move(entry)); }

void FaultEnv::NoteData(uint64_t file_id, const std::string& path, uint64_t offset,
                        uint64_t /*length*/, uint64_t old_size, std::string old_bytes) {
  std::lock_guard lock(mu_);
  Entry e;
  e.kind = Entry::kData;
  e.file_id = file_id;
  e.path = path;
  e.offset = offset;
  e.old_size = old_size;
  e.old_bytes = std::move(old_bytes);
  Journal(std::move(e));
}

void FaultEnv::NoteSynced(uint64_t file_id) {
  std::lock_guard lock(mu_);
  for (Entry& e : journal_) {
    if (e.kind == Entry::kData && e.file_id == file_id) e.durable = true;
  }
}

Result<std::unique_ptr<File>> FaultEnv::OpenFile(const std::string& path, OpenMode mode,
                                                 IoBackend backend) {
  if (mode == OpenMode::kRead) {
    Sleep(kOpRead);
    METERD_ASSIGN_OR_RETURN(auto file, base_->OpenFile(path, mode, backend));
    uint64_t id;
    {
      std::lock_guard lock(mu_);
      id = FileIdOf(path);
    }
    return std::unique_ptr<File>(new FaultFile(this, std::move(file), id));
  }
  if (mode == OpenMode::kCreateTruncate) {
    METERD_RETURN_IF_ERROR(Admit(kOpCreate, path, nullptr));
    METERD_ASSIGN_OR_RETURN(storage::PathInfo info, base_->Stat(path));
    std::string old;
    if (info.exists) METERD_RETURN_IF_ERROR(base_->ReadWholeFile(path, &old));
    METERD_ASSIGN_OR_RETURN(auto file, base_->OpenFile(path, mode, backend));
    std::lock_guard lock(mu_);
    Entry e;
    if (info.exists) {  // O_TRUNC of an existing file: a data change, undone by the old bytes
      e.kind = Entry::kData;
      e.file_id = FileIdOf(path);
      e.offset = 0;
      e.old_size = old.size();
      e.old_bytes = std::move(old);
    } else {
      file_ids_.erase(path);
      e.kind = Entry::kCreate;
      e.file_id = FileIdOf(path);
      e.dir = storage::DirName(path);
    }
    e.path = path;
    const uint64_t id = e.file_id;
    Journal(std::move(e));
    return std::unique_ptr<File>(new FaultFile(this, std::move(file), id));
  }
  METERD_ASSIGN_OR_RETURN(auto file, base_->OpenFile(path, mode, backend));
  std::lock_guard lock(mu_);
  return std::unique_ptr<File>(new FaultFile(this, std::move(file), FileIdOf(path)));
}

Status FaultEnv::CreateDir(const std::string& path) {
  METERD_RETURN_IF_ERROR(Admit(kOpMkdir, path, nullptr));
  METERD_ASSIGN_OR_RETURN(storage::PathInfo info, base_->Stat(path));
  METERD_RETURN_IF_ERROR(base_->CreateDir(path));
  if (!info.exists) {
    std::lock_guard lock(mu_);
    Entry e;
    e.kind = Entry::kMkdir;
    e.path = path;
    e.dir = storage::DirName(path);
    Journal(std::move(e));
  }
  return Status::OK();
}

Status FaultEnv::SyncDir(const std::string& path) {
  METERD_RETURN_IF_ERROR(Admit(kOpSyncDir, path, nullptr));
  METERD_RETURN_IF_ERROR(base_->SyncDir(path));
  std::lock_guard lock(mu_);
  for (Entry& e : journal_) {
    if (e.kind != Entry::kData && e.dir == path) e.durable = true;
  }
  return Status::OK();
}

Status FaultEnv::RenameFile(const std::string& from, const std::string& to) {
  METERD_RETURN_IF_ERROR(Admit(kOpRename, to, nullptr));
  std::lock_guard lock(mu_);
  Entry e;
  e.kind = Entry::kRename;
  e.path = from;
  e.to = to;
  e.dir = storage::DirName(to);
  e.trash = TrashCopy(to);
  e.trash_id = file_ids_.count(to) ? file_ids_[to] : 0;
  METERD_RETURN_IF_ERROR(base_->RenameFile(from, to));
  e.file_id = FileIdOf(from);
  file_ids_.erase(from);
  file_ids_[to] = e.file_id;
  Journal(std::move(e));
  return Status::OK();
}

Status FaultEnv::RemoveFile(const std::string& path) {
  METERD_RETURN_IF_ERROR(Admit(kOpRemove, path, nullptr));
  std::lock_guard lock(mu_);
  Entry e;
  e.kind = Entry::kRemove;
  e.path = path;
  e.dir = storage::DirName(path);
  e.trash = TrashCopy(path);
  e.trash_id = file_ids_.count(path) ? file_ids_[path] : 0;
  METERD_RETURN_IF_ERROR(base_->RemoveFile(path));
  file_ids_.erase(path);
  if (!e.trash.empty()) Journal(std::move(e));
  return Status::OK();
}

Status FaultEnv::RemoveDir(const std::string& path) {
  METERD_RETURN_IF_ERROR(Admit(kOpRemove, path, nullptr));
  METERD_ASSIGN_OR_RETURN(storage::PathInfo info, base_->Stat(path));
  METERD_RETURN_IF_ERROR(base_->RemoveDir(path));
  if (info.exists) {
    std::lock_guard lock(mu_);
    Entry e;
    e.kind = Entry::kRmdir;
    e.path = path;
    e.dir = storage::DirName(path);
    Journal(std::move(e));
  }
  return Status::OK();
}

Result<storage::PathInfo> FaultEnv::Stat(const std::string& path) {
  Sleep(kOpRead);
  return base_->Stat(path);
}

Result<std::vector<std::string>> FaultEnv::ListDir(const std::string& path) {
  Sleep(kOpRead);
  return base_->ListDir(path);
}

Result<std::unique_ptr<storage::FileLock>> FaultEnv::LockFile(const std::string& path) {
  return base_->LockFile(path);
}

Status FaultEnv::SimulatePowerLoss(PowerLossMode mode) {
  std::lock_guard lock(mu_);
  Status result;
  auto keep = [&](const Status& st) {
    if (result.ok() && !st.ok()) result = st;
  };
  auto path_of = [&](uint64_t id) -> std::string {
    for (const auto& [path, fid] : file_ids_) {
      if (fid == id) return path;
    }
    return std::string();
  };
  if (mode == PowerLossMode::kDropUnsynced) {
    for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) {
      Entry& e = *it;
      if (e.durable) continue;
      switch (e.kind) {
        case Entry::kData: {
          const std::string path = path_of(e.file_id);
          if (path.empty() || !base_->FileExists(path)) break;  // removed durably since
          auto file = base_->OpenFile(path, OpenMode::kReadWrite, IoBackend::kPosix);
          if (!file.ok()) {
            keep(file.status());
            break;
          }
          if (!e.old_bytes.empty()) keep((*file)->WriteAt(e.offset, e.old_bytes));
          auto size = (*file)->Size();
          if (size.ok() && *size != e.old_size) keep((*file)->Truncate(e.old_size));
          keep((*file)->Close());
          break;
        }
        case Entry::kCreate:
          keep(base_->RemoveFile(e.path));
          if (file_ids_.count(e.path) && file_ids_[e.path] == e.file_id) file_ids_.erase(e.path);
          break;
        case Entry::kRename:
          keep(base_->RenameFile(e.to, e.path));
          file_ids_.erase(e.to);
          file_ids_[e.path] = e.file_id;
          if (!e.trash.empty()) {
            if (::link(e.trash.c_str(), e.to.c_str()) != 0) {
              keep(Status::FromErrno("restore " + e.to, errno));
            }
            if (e.trash_id != 0) file_ids_[e.to] = e.trash_id;
          }
          break;
        case Entry::kRemove:
          if (::link(e.trash.c_str(), e.path.c_str()) != 0) {
            keep(Status::FromErrno("restore " + e.path, errno));
          }
          if (e.trash_id != 0) file_ids_[e.path] = e.trash_id;
          break;
        case Entry::kMkdir:
          keep(base_->RemoveTree(e.path));
          break;
        case Entry::kRmdir:
          keep(base_->CreateDir(e.path));
          break;
      }
    }
  }
  journal_.clear();
  crashed_ = false;
  crash_at_ = 0;
  crash_torn_ = -1;
  if (auto names = base_->ListDir(trash_); names.ok()) {
    for (const std::string& n : *names) (void)base_->RemoveFile(trash_ + "/" + n);
  }
  return result;
}

void FaultEnv::Reset() {
  std::lock_guard lock(mu_);
  journal_.clear();
  crashed_ = false;
  crash_at_ = 0;
  crash_torn_ = -1;
  rules_.clear();
  rule_seen_.clear();
  delays_.clear();
  if (auto names = base_->ListDir(trash_); names.ok()) {
    for (const std::string& n : *names) (void)base_->RemoveFile(trash_ + "/" + n);
  }
}

}  // namespace meterd::testing
