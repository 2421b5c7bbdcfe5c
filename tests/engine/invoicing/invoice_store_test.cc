// meterd — tests/engine/invoicing/invoice_store_test.cc: drafts, gapless numbering, frozen
// documents, events and coverage in billing.db.
#include "engine/invoicing/invoice_store.h"

#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace meterd::engine::invoicing {
namespace invoice_store_test {

constexpr int64_t kNov = 1'793'491'200;
constexpr int64_t kDec = 1'796'083'200;

class InvoiceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = tenancy::BillingDb::Open(dir_.path() + "/billing.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    auto s = InvoiceStore::Open(db_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  static Invoice Draft(const std::string& account, int64_t start, MicroCredits total) {
    Invoice inv;
    inv.account = account;
    inv.period_start = start;
    inv.period_end = start + 30 * 86400;
    inv.subtotal = inv.total = inv.amount_due = {total, total / 10000};
    return inv;
  }
  Status Exec(const std::string& sql) {
    auto txn = db_->Begin();
    if (!txn.ok()) return txn.status();
    Status s = txn->Exec(sql);
    if (!s.ok()) return s;
    return txn->Commit();
  }
  meterd::testing::TempDir dir_;
  std::unique_ptr<tenancy::BillingDb> db_;
  std::unique_ptr<InvoiceStore> store_;
};

TEST_F(InvoiceStoreTest, IssuingNumbersWithoutGapsPerScopeAndKindAndFreezesTheDocument) {
  NumberingOptions a{"dom-a", "A-", 4, 86400};
  NumberingOptions b{"dom-b", "B-", 4, 86400};
  int64_t now = 1000;
  for (const char* account : {"x1", "x2", "x3"}) {
    ASSERT_TRUE(store_->PutDraft(Draft(account, kNov, 5), Coverage{10, {{kNov, 5}}}).ok());
  }
  ASSERT_TRUE(store_->PutDraft(Draft("y1", kNov, 7), Coverage{11, {{kNov, 7}}}).ok());
  EXPECT_EQ(store_->Issue("x1", kNov, a, ++now).value().invoice.number, "A-0001");
  EXPECT_EQ(store_->Issue("y1", kNov, b, ++now).value().invoice.number, "B-0001");
  EXPECT_EQ(store_->Issue("x2", kNov, a, ++now).value().invoice.number, "A-0002");
  auto x3 = store_->Issue("x3", kNov, a, ++now);
  ASSERT_TRUE(x3.ok());
  EXPECT_EQ(x3->invoice.number, "A-0003");
  EXPECT_EQ(x3->invoice.due_at, now + 86400);
  // Issuing an issued period again is AlreadyExists (its draft is gone), and so is a new draft
  // of it; a period never drafted is NotFound.
  EXPECT_EQ(store_->Issue("x1", kNov, a, ++now).status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(store_->Issue("x9", kNov, a, ++now).status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(store_->PutDraft(Draft("x1", kNov, 9), Coverage{12, {{kNov, 9}}}).ok());
  EXPECT_EQ(store_->Issue("x1", kNov, a, ++now).status().code(), Status::Code::kAlreadyExists);
  // Frozen: UPDATE and DELETE are refused by the schema.
  EXPECT_FALSE(Exec("UPDATE invoices SET total = 0").ok());
  EXPECT_FALSE(Exec("DELETE FROM invoices").ok());
  ASSERT_TRUE(store_->AddEvent("A-0001", {0, "booked", 0, "", "t", "", now}).ok());
  EXPECT_FALSE(Exec("DELETE FROM invoice_events").ok());
  EXPECT_FALSE(Exec("UPDATE invoice_events SET amount = 1").ok());
  // Read back with its coverage.
  auto got = store_->Get("A-0003");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->invoice.account, "x3");
  EXPECT_EQ(got->invoice.state, InvoiceState::kIssued);
  EXPECT_EQ(got->coverage.watermark, 10);
  EXPECT_EQ(got->coverage.months.at(kNov), 5);
  EXPECT_EQ(store_->Get("A-0009").status().code(), Status::Code::kNotFound);
}

TEST_F(InvoiceStoreTest, EventsDeriveTheStateAndAVoidFreesThePeriod) {
  NumberingOptions n{"*", "INV-", 6, 0};
  ASSERT_TRUE(store_->PutDraft(Draft("x1", kNov, 50), Coverage{3, {{kNov, 50}}}).ok());
  auto s = store_->Issue("x1", kNov, n, 100);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(store_->AddEvent("INV-000001", {0, "payment", 20, "p1", "t", "", 101}).ok());
  auto paid = store_->Get("INV-000001");
  EXPECT_EQ(paid->paid, 20);
  EXPECT_EQ(paid->invoice.state, InvoiceState::kIssued);
  ASSERT_TRUE(store_->AddEvent("INV-000001", {0, "paid", 0, "p1", "t", "", 102}).ok());
  EXPECT_EQ(store_->Get("INV-000001")->invoice.state, InvoiceState::kPaid);
  EXPECT_EQ(store_->AddEvent("NOPE", {0, "paid", 0, "", "t", "", 1}).code(),
            Status::Code::kNotFound);
  EXPECT_FALSE(store_->AddEvent("INV-000001", {0, "lost", 0, "", "t", "", 1}).ok());
  // Coverage of the latest issued invoice; a void one does not count.
  auto last = store_->LastCoverage("x1");
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->first, kNov);
  ASSERT_TRUE(store_->AddEvent("INV-000001", {0, "void", 0, "", "t", "wrong", 103}).ok());
  EXPECT_EQ(store_->Get("INV-000001")->invoice.state, InvoiceState::kVoid);
  EXPECT_FALSE(store_->LastCoverage("x1")->has_value());
  EXPECT_FALSE(store_->IssuedFor("x1", kNov)->has_value());
  // The period can be issued again, with the next number (never the void one's).
  ASSERT_TRUE(store_->PutDraft(Draft("x1", kNov, 40), Coverage{4, {{kNov, 40}}}).ok());
  EXPECT_EQ(store_->Issue("x1", kNov, n, 104)->invoice.number, "INV-000002");
  // A credit note: its own sequence, linked to its invoice, counted as credited.
  Invoice note = Draft("x1", kNov, 5);
  note.kind = InvoiceKind::kCreditNote;
  note.credit_note_for = "INV-000002";
  NumberingOptions cn{"*", "CN-", 6, 0};
  EXPECT_EQ(store_->IssueCreditNote(note, "INV-000002", cn, 105)->invoice.number, "CN-000001");
  EXPECT_EQ(store_->Get("INV-000002")->credited, 5);
  EXPECT_EQ(store_->IssueCreditNote(note, "INV-404", cn, 105).status().code(),
            Status::Code::kNotFound);
  // Booking events: the unbooked are listed until their `booked` event.
  EXPECT_EQ(store_->Unbooked()->size(), 3u);
  ASSERT_TRUE(store_->AddEvent("INV-000002", {0, "booked", 0, "", "t", "", 106}).ok());
  EXPECT_EQ(store_->Unbooked()->size(), 2u);
}

TEST_F(InvoiceStoreTest, DraftsAreReplacedAndAProvisionalOneIsNeverIssued) {
  ASSERT_TRUE(store_->PutDraft(Draft("x1", kNov, 5), Coverage{1, {{kNov, 5}}}).ok());
  ASSERT_TRUE(store_->PutDraft(Draft("x1", kNov, 6), Coverage{2, {{kNov, 6}}}).ok());
  ListFilter f;
  auto drafts = store_->Drafts(f);
  ASSERT_EQ(drafts->size(), 1u);
  EXPECT_EQ((*drafts)[0].total.micro, 6);
  auto one = store_->Draft("x1", kNov);
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->second.watermark, 2);
  Invoice p = Draft("x2", kDec, 1);
  p.provisional = true;
  ASSERT_TRUE(store_->PutDraft(p, Coverage{}).ok());
  EXPECT_EQ(store_->Issue("x2", kDec, NumberingOptions{}, 1).status().code(),
            Status::Code::kInvalidArgument);
  ASSERT_TRUE(store_->DropDraft("x2", kDec).ok());
  EXPECT_FALSE(store_->Draft("x2", kDec)->has_value());
}

}  // namespace invoice_store_test
}  // namespace meterd::engine::invoicing
