// meterd — tests/storage/base/calendar_test.cc
//
// storage/base/calendar.h against an independent reference: std::chrono's civil calendar
// (year_month_day, sys_days, weekday; C++20, in libstdc++ 12), day by day over 1600-2400 — four
// whole 400-year cycles on both sides of 1970, every leap rule — and at random far outside.
#include "storage/base/calendar.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

namespace meterd::base {
namespace calendar_test {

namespace chr = std::chrono;

chr::sys_days SysDays(int64_t z) { return chr::sys_days{chr::days{z}}; }
int64_t DayNumber(chr::sys_days d) { return d.time_since_epoch().count(); }
int64_t DayNumber(chr::year_month_day ymd) { return DayNumber(chr::sys_days{ymd}); }

TEST(CalendarTest, EveryDayFrom1600To2400MatchesChrono) {
  const int64_t first = DayNumber(chr::year{1600} / chr::January / 1);
  const int64_t last = DayNumber(chr::year{2400} / chr::December / 31);
  ASSERT_LT(first, 0);
  for (int64_t z = first; z <= last; ++z) {
    const chr::year_month_day ref{SysDays(z)};
    const CivilDate c = CivilFromDays(z);
    ASSERT_EQ(c.year, static_cast<int>(ref.year())) << z;
    ASSERT_EQ(c.month, static_cast<unsigned>(ref.month())) << z;
    ASSERT_EQ(c.day, static_cast<unsigned>(ref.day())) << z;
    ASSERT_EQ(DaysFromCivil(c.year, c.month, c.day), z);
    ASSERT_EQ(DaysFromCivil(c), z);
    ASSERT_EQ(WeekdayFromDays(z), chr::weekday{SysDays(z)}.c_encoding()) << z;
    ASSERT_EQ(IsLeapYear(c.year), ref.year().is_leap());
    const chr::year_month_day_last month_last{ref.year(), chr::month_day_last{ref.month()}};
    ASSERT_EQ(DaysInMonth(c.year, c.month), static_cast<unsigned>(month_last.day()));
    ASSERT_TRUE(IsValidCivil(c.year, c.month, c.day));

    // Month, quarter, year and week boundaries, each from chrono's own arithmetic.
    const chr::year_month ym = ref.year() / ref.month();
    const int64_t month_start = DayNumber(ym / 1);
    const int64_t next_month = DayNumber((ym + chr::months{1}) / 1);
    ASSERT_EQ(MonthStartDay(z), month_start) << z;
    ASSERT_EQ(NextMonthStartDay(z), next_month) << z;
    ASSERT_EQ(PeriodStartDay(CalendarUnit::kMonth, z), month_start);
    ASSERT_EQ(NextPeriodStartDay(CalendarUnit::kMonth, z), next_month);
    ASSERT_EQ(PeriodStartDay(CalendarUnit::kDay, z), z);
    ASSERT_EQ(NextPeriodStartDay(CalendarUnit::kDay, z), z + 1);
    const unsigned q = (static_cast<unsigned>(ref.month()) - 1) / 3 * 3 + 1;
    const chr::year_month quarter = ref.year() / chr::month{q};
    ASSERT_EQ(PeriodStartDay(CalendarUnit::kQuarter, z), DayNumber(quarter / 1)) << z;
    ASSERT_EQ(NextPeriodStartDay(CalendarUnit::kQuarter, z),
              DayNumber((quarter + chr::months{3}) / 1))
        << z;
    ASSERT_EQ(PeriodStartDay(CalendarUnit::kYear, z), DayNumber(ref.year() / chr::January / 1));
    ASSERT_EQ(NextPeriodStartDay(CalendarUnit::kYear, z),
              DayNumber((ref.year() + chr::years{1}) / chr::January / 1));
    for (unsigned ws = 0; ws < 7; ++ws) {
      // chrono's weekday difference is the number of days since the week's first day, 0..6.
      const chr::days back = chr::weekday{SysDays(z)} - chr::weekday{ws};
      const int64_t week_start = DayNumber(SysDays(z) - back);
      ASSERT_EQ(PeriodStartDay(CalendarUnit::kWeek, z, ws), week_start) << z << " " << ws;
      ASSERT_EQ(NextPeriodStartDay(CalendarUnit::kWeek, z, ws), week_start + 7);
    }
    // Seconds: every second of the day maps to the same month.
    for (const int64_t s : {int64_t{0}, int64_t{1}, int64_t{43200}, int64_t{86399}}) {
      const int64_t t = z * kSecondsPerDay + s;
      ASSERT_EQ(DayOf(t), z);
      ASSERT_EQ(MonthStart(t), month_start * kSecondsPerDay);
      ASSERT_EQ(NextMonthStart(t), next_month * kSecondsPerDay);
      ASSERT_EQ(MonthNumber(t),
                static_cast<int>(ref.year()) * 100 + static_cast<unsigned>(ref.month()));
    }
  }
}

TEST(CalendarTest, InvalidDatesAreRefused) {
  EXPECT_FALSE(IsValidCivil(2026, 2, 29));
  EXPECT_TRUE(IsValidCivil(2028, 2, 29));
  EXPECT_FALSE(IsValidCivil(2100, 2, 29));  // divisible by 100, not by 400
  EXPECT_TRUE(IsValidCivil(2000, 2, 29));
  EXPECT_FALSE(IsValidCivil(2026, 4, 31));
  EXPECT_FALSE(IsValidCivil(2026, 0, 1));
  EXPECT_FALSE(IsValidCivil(2026, 13, 1));
  EXPECT_FALSE(IsValidCivil(2026, 1, 0));
  EXPECT_FALSE(IsValidCivil(2026, 1, 32));
}

TEST(CalendarTest, AddMonthsMatchesChronoAndRandomFarDays) {
  std::mt19937_64 rng(15);
  for (int i = 0; i < 200000; ++i) {
    const int y = static_cast<int>(rng() % 20000) - 10000;
    const unsigned m = static_cast<unsigned>(rng() % 12) + 1;
    const int64_t n = static_cast<int64_t>(rng() % 40001) - 20000;
    const YearMonth got = AddMonths(YearMonth{y, m}, n);
    const chr::year_month ref = chr::year{y} / chr::month{m} + chr::months{n};
    ASSERT_EQ(got.year, static_cast<int>(ref.year())) << y << "-" << m << " + " << n;
    ASSERT_EQ(got.month, static_cast<unsigned>(ref.month()));
  }
  // Day numbers far from 1970 (chrono's years span -32767..32767): a round trip everywhere.
  const int64_t lo = DayNumber(chr::year{-32000} / chr::January / 1);
  const int64_t hi = DayNumber(chr::year{32000} / chr::December / 31);
  for (int i = 0; i < 200000; ++i) {
    const int64_t z = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
    const chr::year_month_day ref{SysDays(z)};
    const CivilDate c = CivilFromDays(z);
    ASSERT_EQ(c.year, static_cast<int>(ref.year())) << z;
    ASSERT_EQ(c.month, static_cast<unsigned>(ref.month()));
    ASSERT_EQ(c.day, static_cast<unsigned>(ref.day()));
    ASSERT_EQ(DaysFromCivil(c), z);
    ASSERT_EQ(WeekdayFromDays(z), chr::weekday{SysDays(z)}.c_encoding());
  }
}

TEST(CalendarTest, KnownDates) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2026, 1, 1) * kSecondsPerDay, 1767225600);
  EXPECT_EQ(CivilFromDays(-1), (CivilDate{1969, 12, 31}));
  EXPECT_EQ(WeekdayFromDays(0), 4u);  // 1970-01-01, a Thursday
  EXPECT_EQ(MonthStart(-1), -31 * kSecondsPerDay);
  EXPECT_EQ(MonthNumber(1767225600), 202601);
  EXPECT_EQ(FloorDiv(-1, 86400), -1);
  EXPECT_EQ(FloorDiv(-86400, 86400), -1);
  EXPECT_EQ(FloorDiv(86399, 86400), 0);
  // constexpr: usable in constant expressions.
  static_assert(DaysFromCivil(2000, 3, 1) == 11017);
  static_assert(NextMonthStartDay(DaysFromCivil(2024, 2, 10)) == DaysFromCivil(2024, 3, 1));
}

}  // namespace calendar_test
}  // namespace meterd::base
