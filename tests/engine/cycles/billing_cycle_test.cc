// meterd — tests/engine/cycles/billing_cycle_test.cc
//
// Billing periods in IANA zones (engine/cycles/billing_cycle.h). Hand-computed cases across DST
// changes, half-hour and 45-minute offsets, midnights that do not exist or occur twice, and a
// skipped day; then properties over every zone of the system's tz database: periods contain
// their instants, tile time without gap or overlap, start on the day their cycle says, and
// their hour buckets tile the UTC hours the same way.
#include "engine/cycles/billing_cycle.h"

#include <date/tz.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "storage/base/calendar.h"

namespace meterd::engine::cycles {
namespace billing_cycle_test {

// "2026-10-31T18:30" (UTC) as unix seconds; the calendar itself is tested against std::chrono.
int64_t Utc(const char* s) {
  int y, mo, d, h, mi;
  EXPECT_EQ(std::sscanf(s, "%d-%d-%dT%d:%d", &y, &mo, &d, &h, &mi), 5) << s;
  return base::DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
         h * 3600 + mi * 60;
}

int64_t Day(int y, unsigned m, unsigned d) { return base::DaysFromCivil(y, m, d); }

TimeZone Zone(const char* name) {
  Result<TimeZone> z = TimeZone::Find(name);
  EXPECT_TRUE(z.ok()) << name << ": " << z.status().ToString();
  return z.ok() ? std::move(z).value() : TimeZone::Utc();
}

Period Containing(const Cycle& c, const TimeZone& z, int64_t t) {
  Result<Period> p = PeriodContaining(c, z, t);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : Period{};
}

Period Next(const Cycle& c, const TimeZone& z, const Period& p) {
  Result<Period> n = NextPeriod(c, z, p);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return n.ok() ? *n : Period{};
}

const Cycle kMonthly{CycleKind::kMonthly};
const Cycle kDaily{CycleKind::kDaily};

TEST(TimeZoneTest, FindsZonesAndRefusesUnknownOnes) {
  EXPECT_EQ(Zone("Asia/Kolkata").OffsetAt(Utc("2026-11-15T00:00")), 5 * 3600 + 1800);
  EXPECT_EQ(Zone("Asia/Calcutta").OffsetAt(Utc("2026-11-15T00:00")), 5 * 3600 + 1800);  // a link
  EXPECT_EQ(Zone("Asia/Kathmandu").OffsetAt(Utc("2026-11-15T00:00")), 5 * 3600 + 2700);
  EXPECT_EQ(Zone("Europe/London").OffsetAt(Utc("2026-07-01T00:00")), 3600);
  EXPECT_EQ(Zone("Europe/London").OffsetAt(Utc("2026-12-01T00:00")), 0);
  EXPECT_EQ(TimeZone::Utc().OffsetAt(Utc("2026-07-01T00:00")), 0);

  Result<TimeZone> bad = TimeZone::Find("Mars/Olympus_Mons");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_NE(bad.status().ToString().find("unknown time zone \"Mars/Olympus_Mons\""),
            std::string::npos)
      << bad.status().ToString();
  EXPECT_FALSE(TimeZone::Find("").ok());
  EXPECT_FALSE(TimeZone::Find("right/UTC").ok());
  EXPECT_FALSE(TimeZone::Find("europe/london").ok());  // names are case-sensitive
  EXPECT_NE(TimeZone::DatabaseVersion(), "");
}

// +05:30: local midnight is hh:30 UTC, so the UTC bucket that straddles it belongs to the
// period its first second falls in.
TEST(BillingCycleTest, KolkataMonthlyHalfHourOffset) {
  const TimeZone z = Zone("Asia/Kolkata");
  const Period nov = Containing(kMonthly, z, Utc("2026-11-15T12:00"));
  EXPECT_EQ(nov.start, Utc("2026-10-31T18:30"));
  EXPECT_EQ(nov.end, Utc("2026-11-30T18:30"));
  EXPECT_EQ(nov.start_day, Day(2026, 11, 1));
  EXPECT_EQ(nov.end_day, Day(2026, 12, 1));
  EXPECT_EQ(nov.first_hour(), Utc("2026-10-31T19:00"));
  EXPECT_EQ(nov.end_hour(), Utc("2026-11-30T19:00"));
  EXPECT_EQ((nov.end_hour() - nov.first_hour()) / 3600, 30 * 24);
  // The bucket [18:00, 19:00) UTC of Oct 31 starts in October (local 23:30).
  const Period oct = Containing(kMonthly, z, Utc("2026-10-31T18:00"));
  EXPECT_EQ(oct.end, nov.start);
  EXPECT_EQ(oct.end_hour(), nov.first_hour());
  EXPECT_EQ(Containing(kMonthly, z, nov.start - 1), oct);
  EXPECT_EQ(Containing(kMonthly, z, nov.start), nov);
}

TEST(BillingCycleTest, KathmanduDaily45MinuteOffset) {
  const TimeZone z = Zone("Asia/Kathmandu");
  const Period d = Containing(kDaily, z, Utc("2026-11-15T00:00"));  // local 05:45
  EXPECT_EQ(d.start, Utc("2026-11-14T18:15"));
  EXPECT_EQ(d.end, Utc("2026-11-15T18:15"));
  EXPECT_EQ(d.first_hour(), Utc("2026-11-14T19:00"));
  EXPECT_EQ(d.end_hour(), Utc("2026-11-15T19:00"));
  EXPECT_EQ(Next(kDaily, z, d).start, d.end);
}

// Adelaide: +09:30 standard, +10:30 from the first Sunday of October to the first Sunday of
// April; both offsets are half-hours.
TEST(BillingCycleTest, AdelaideAcrossDaylightSavingTime) {
  const TimeZone z = Zone("Australia/Adelaide");
  const Period oct = Containing(kMonthly, z, Utc("2026-10-15T00:00"));
  EXPECT_EQ(oct.start, Utc("2026-09-30T14:30"));  // Oct 1 00:00 ACST (+09:30)
  EXPECT_EQ(oct.end, Utc("2026-10-31T13:30"));    // Nov 1 00:00 ACDT (+10:30)
  EXPECT_EQ((oct.end - oct.start) / 3600, 31 * 24 - 1);
  EXPECT_EQ(oct.first_hour(), Utc("2026-09-30T15:00"));
  EXPECT_EQ(oct.end_hour(), Utc("2026-10-31T14:00"));
  EXPECT_EQ((oct.end_hour() - oct.first_hour()) / 3600, 743);

  const Period apr = Containing(kMonthly, z, Utc("2026-04-10T00:00"));
  EXPECT_EQ(apr.start, Utc("2026-03-31T13:30"));  // Apr 1 00:00 ACDT
  EXPECT_EQ(apr.end, Utc("2026-04-30T14:30"));    // May 1 00:00 ACST
  EXPECT_EQ((apr.end_hour() - apr.first_hour()) / 3600, 30 * 24 + 1);

  // The day clocks go forward (02:00 -> 03:00 on 2026-10-04) has 23 hours and 23 buckets.
  const Period dst = Containing(kDaily, z, Utc("2026-10-04T00:00"));
  EXPECT_EQ(dst.start, Utc("2026-10-03T14:30"));
  EXPECT_EQ(dst.end, Utc("2026-10-04T13:30"));
  EXPECT_EQ((dst.end_hour() - dst.first_hour()) / 3600, 23);
}

// Lord Howe moves its clocks by half an hour: a 23.5-hour day holds 23 whole buckets.
TEST(BillingCycleTest, LordHoweHalfHourDaylightSaving) {
  const TimeZone z = Zone("Australia/Lord_Howe");
  const Period d = Containing(kDaily, z, Utc("2026-10-04T06:00"));
  EXPECT_EQ(d.start, Utc("2026-10-03T13:30"));  // Oct 4 00:00 at +10:30
  EXPECT_EQ(d.end, Utc("2026-10-04T13:00"));    // Oct 5 00:00 at +11:00
  EXPECT_EQ(d.first_hour(), Utc("2026-10-03T14:00"));
  EXPECT_EQ(d.end_hour(), Utc("2026-10-04T13:00"));
  const Period next = Next(kDaily, z, d);
  EXPECT_EQ(next.first_hour(), d.end_hour());
}

TEST(BillingCycleTest, LondonDaysOf23And25Hours) {
  const TimeZone z = Zone("Europe/London");
  const Period spring = Containing(kDaily, z, Utc("2026-03-29T12:00"));
  EXPECT_EQ(spring.start, Utc("2026-03-29T00:00"));
  EXPECT_EQ(spring.end, Utc("2026-03-29T23:00"));
  const Period autumn = Containing(kDaily, z, Utc("2026-10-25T12:00"));
  EXPECT_EQ(autumn.start, Utc("2026-10-24T23:00"));
  EXPECT_EQ(autumn.end, Utc("2026-10-26T00:00"));
  EXPECT_EQ((autumn.end_hour() - autumn.first_hour()) / 3600, 25);
  // A week from Monday that holds the change.
  const Cycle weekly{CycleKind::kWeekly, 1, 1};
  const Period week = Containing(weekly, z, Utc("2026-03-29T12:00"));  // a Sunday
  EXPECT_EQ(week.start, Utc("2026-03-23T00:00"));
  EXPECT_EQ(week.end, Utc("2026-03-29T23:00"));
  EXPECT_EQ((week.end - week.start) / 3600, 7 * 24 - 1);
  // Weeks from Sunday: the same Sunday starts one.
  const Period sunday_week =
      Containing(Cycle{CycleKind::kWeekly, 1, 0}, z, Utc("2026-03-29T12:00"));
  EXPECT_EQ(sunday_week.start, Utc("2026-03-29T00:00"));
  EXPECT_EQ(sunday_week.end, Utc("2026-04-04T23:00"));
}

// Cuba changes its clocks at midnight: on 2026-03-08 midnight does not exist (00:00 -> 01:00),
// on 2026-11-01 the hour from midnight occurs twice (01:00 CDT -> 00:00 CST).
TEST(BillingCycleTest, HavanaMidnightSkippedAndRepeated) {
  const TimeZone z = Zone("America/Havana");
  const Period skipped = Containing(kDaily, z, Utc("2026-03-08T12:00"));
  EXPECT_EQ(skipped.start, Utc("2026-03-08T05:00"));  // the transition: first instant of the day
  EXPECT_EQ(skipped.end, Utc("2026-03-09T04:00"));    // Mar 9 00:00 CDT (-04)
  EXPECT_EQ(Containing(kDaily, z, Utc("2026-03-08T04:59")).end, skipped.start);

  const Period repeated = Containing(kDaily, z, Utc("2026-11-01T12:00"));
  EXPECT_EQ(repeated.start, Utc("2026-11-01T04:00"));  // the first 00:00 (CDT, -04)
  EXPECT_EQ(repeated.end, Utc("2026-11-02T05:00"));    // Nov 2 00:00 CST (-05)
  EXPECT_EQ((repeated.end - repeated.start) / 3600, 25);
  EXPECT_EQ(Containing(kDaily, z, Utc("2026-11-01T04:30")), repeated);  // 00:30 CDT
  EXPECT_EQ(Containing(kDaily, z, Utc("2026-11-01T05:30")), repeated);  // 00:30 CST
  EXPECT_EQ(Containing(kDaily, z, Utc("2026-11-01T03:59")).end, repeated.start);
}

// Samoa skipped 2011-12-30 (from -10 to +14): no daily period of its own.
TEST(BillingCycleTest, ApiaSkippedDayHasNoPeriod) {
  const TimeZone z = Zone("Pacific/Apia");
  const Period dec29 = Containing(kDaily, z, Utc("2011-12-29T12:00"));
  EXPECT_EQ(dec29.start, Utc("2011-12-29T10:00"));
  EXPECT_EQ(dec29.end, Utc("2011-12-30T10:00"));
  const Period dec31 = Next(kDaily, z, dec29);
  EXPECT_EQ(dec31.start_day, Day(2011, 12, 31));
  EXPECT_EQ(dec31.start, dec29.end);
  EXPECT_EQ(dec31.end, Utc("2011-12-31T10:00"));
  Result<Period> back = PreviousPeriod(kDaily, z, dec31);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, dec29);
  EXPECT_EQ(Containing(kDaily, z, dec29.end), dec31);
}

TEST(BillingCycleTest, AnchoredMonthsOnThe31stAnd30thNeverDrift) {
  const TimeZone utc = TimeZone::Utc();
  const Cycle a31{CycleKind::kMonthlyAnchored, 31};
  Period p = Containing(a31, utc, Utc("2026-01-31T00:00"));
  const std::vector<int64_t> starts = {Day(2026, 1, 31), Day(2026, 2, 28), Day(2026, 3, 31),
                                       Day(2026, 4, 30), Day(2026, 5, 31), Day(2026, 6, 30)};
  for (size_t i = 0; i + 1 < starts.size(); ++i) {
    EXPECT_EQ(p.start_day, starts[i]) << i;
    EXPECT_EQ(p.start, starts[i] * 86400);
    EXPECT_EQ(p.end_day, starts[i + 1]);
    p = Next(a31, utc, p);
  }
  // Leap February: Jan 31 - Feb 29 - Mar 31 (2028); anchored on the 30th: Feb 29 too.
  EXPECT_EQ(Containing(a31, utc, Utc("2028-03-01T00:00")).start_day, Day(2028, 2, 29));
  const Cycle a30{CycleKind::kMonthlyAnchored, 30};
  const Period feb = Containing(a30, utc, Utc("2027-03-01T00:00"));
  EXPECT_EQ(feb.start_day, Day(2027, 2, 28));
  EXPECT_EQ(feb.end_day, Day(2027, 3, 30));
  // A day before the anchor belongs to the period that began the month before.
  const Cycle a15{CycleKind::kMonthlyAnchored, 15};
  const Period kolkata = Containing(a15, Zone("Asia/Kolkata"), Utc("2026-03-14T18:29"));
  EXPECT_EQ(kolkata.start, Utc("2026-02-14T18:30"));
  EXPECT_EQ(kolkata.end, Utc("2026-03-14T18:30"));
}

TEST(BillingCycleTest, QuarterlyAndYearly) {
  const Period q =
      Containing(Cycle{CycleKind::kQuarterly}, Zone("Europe/Berlin"), Utc("2026-05-05T00:00"));
  EXPECT_EQ(q.start, Utc("2026-03-31T22:00"));  // Apr 1 00:00 CEST
  EXPECT_EQ(q.end, Utc("2026-06-30T22:00"));
  const Period y =
      Containing(Cycle{CycleKind::kYearly}, Zone("America/New_York"), Utc("2026-07-04T00:00"));
  EXPECT_EQ(y.start, Utc("2026-01-01T05:00"));
  EXPECT_EQ(y.end, Utc("2027-01-01T05:00"));
}

TEST(BillingCycleTest, RefusesBadCyclesAndInstantsOutOfRange) {
  const TimeZone utc = TimeZone::Utc();
  EXPECT_TRUE(PeriodContaining(Cycle{CycleKind::kMonthlyAnchored, 0}, utc, Utc("2026-01-01T00:00"))
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(PeriodContaining(Cycle{CycleKind::kMonthlyAnchored, 32}, utc, 0)
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(PeriodContaining(Cycle{CycleKind::kWeekly, 1, 7}, utc, Utc("2026-01-01T00:00"))
                  .status()
                  .IsInvalidArgument());
  EXPECT_TRUE(PeriodContaining(kMonthly, utc, kZonedUntil).status().IsOutOfRange());
  EXPECT_TRUE(PeriodContaining(kMonthly, utc, -1).status().IsOutOfRange());
  // November 2037's period ends in range; December's would end on 2038-01-01, past it.
  const Period nov = Containing(kMonthly, utc, Utc("2037-11-15T00:00"));
  EXPECT_EQ(nov.end, Utc("2037-12-01T00:00"));
  EXPECT_TRUE(PeriodContaining(kMonthly, utc, Utc("2037-12-15T00:00")).status().IsOutOfRange());
  EXPECT_TRUE(PeriodContaining(Cycle{CycleKind::kYearly}, utc, Utc("2037-06-01T00:00"))
                  .status()
                  .IsOutOfRange());
  EXPECT_TRUE(NextPeriod(kMonthly, utc, nov).status().IsOutOfRange());
}

TEST(BillingCycleTest, NamesRoundTrip) {
  for (CycleKind k : {CycleKind::kMonthly, CycleKind::kMonthlyAnchored, CycleKind::kDaily,
                      CycleKind::kWeekly, CycleKind::kQuarterly, CycleKind::kYearly}) {
    EXPECT_EQ(ParseCycleKind(CycleKindName(k)), k);
  }
  EXPECT_FALSE(ParseCycleKind("fortnightly"));
  EXPECT_EQ(ParseWeekday("Monday"), 1u);
  EXPECT_EQ(ParseWeekday("sun"), 0u);
  EXPECT_FALSE(ParseWeekday("mondays"));
  for (unsigned d = 0; d < 7; ++d) EXPECT_EQ(ParseWeekday(WeekdayName(d)), d);
}

// ---- Properties over every zone of the system's tz database ----

std::vector<std::string> AllZones() {
  std::vector<std::string> names;
  for (const date::time_zone& z : date::get_tzdb().zones) {
    if (std::string(z.name()).starts_with("right/")) continue;
    names.emplace_back(z.name());
  }
  return names;
}

// The rule a period's first local day follows, checked with std::chrono's calendar.
void ExpectStartsOnItsDay(const Cycle& c, int64_t start_day) {
  namespace chr = std::chrono;
  const chr::sys_days sd{chr::days{start_day}};
  const chr::year_month_day ymd{sd};
  const unsigned day = static_cast<unsigned>(ymd.day());
  const unsigned month = static_cast<unsigned>(ymd.month());
  switch (c.kind) {
    case CycleKind::kMonthly:
      EXPECT_EQ(day, 1u);
      break;
    case CycleKind::kMonthlyAnchored: {
      const unsigned last = static_cast<unsigned>(
          chr::year_month_day_last{ymd.year(), chr::month_day_last{ymd.month()}}.day());
      EXPECT_EQ(day, std::min(c.anchor_day, last));
      break;
    }
    case CycleKind::kDaily:
      break;
    case CycleKind::kWeekly:
      EXPECT_EQ(chr::weekday{sd}.c_encoding(), c.week_start);
      break;
    case CycleKind::kQuarterly:
      EXPECT_EQ(day, 1u);
      EXPECT_EQ((month - 1) % 3, 0u);
      break;
    case CycleKind::kYearly:
      EXPECT_EQ(day, 1u);
      EXPECT_EQ(month, 1u);
      break;
  }
}

Cycle RandomCycle(std::mt19937_64& rng) {
  Cycle c;
  c.kind = static_cast<CycleKind>(1 + rng() % 6);
  c.anchor_day = static_cast<unsigned>(1 + rng() % 31);
  c.week_start = static_cast<unsigned>(rng() % 7);
  return c;
}

TEST(BillingCyclePropertyTest, PeriodsContainTheirInstantsAndTileTime) {
  const std::vector<std::string> zones = AllZones();
  ASSERT_GT(zones.size(), 300u);  // the whole system database, not a hand-picked list
  std::mt19937_64 rng(15);
  // Far enough inside the supported range for a yearly period's neighbours.
  const int64_t lo = Utc("1972-01-01T00:00"), hi = Utc("2036-01-01T00:00");
  for (const std::string& name : zones) {
    const TimeZone z = Zone(name.c_str());
    for (int i = 0; i < 40; ++i) {
      const Cycle c = RandomCycle(rng);
      const int64_t t = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo));
      Result<Period> got = PeriodContaining(c, z, t);
      ASSERT_TRUE(got.ok()) << name << " " << t << ": " << got.status().ToString();
      const Period p = *got;
      ASSERT_LE(p.start, t) << name;
      ASSERT_LT(t, p.end) << name;
      ASSERT_EQ(z.LocalDayOf(p.start), p.start_day) << name << " " << p.start;
      ASSERT_LT(z.LocalDayOf(p.end - 1), p.end_day) << name;
      ExpectStartsOnItsDay(c, p.start_day);
      // Neighbours meet exactly, and each boundary belongs to the period it starts.
      Result<Period> next = NextPeriod(c, z, p);
      Result<Period> prev = PreviousPeriod(c, z, p);
      ASSERT_TRUE(next.ok() && prev.ok()) << name;
      ASSERT_EQ(next->start, p.end) << name;
      ASSERT_EQ(prev->end, p.start) << name;
      ASSERT_EQ(*PeriodContaining(c, z, p.end), *next) << name;
      ASSERT_EQ(*PeriodContaining(c, z, p.end - 1), p) << name;
      ASSERT_EQ(*PeriodContaining(c, z, p.start), p) << name;
      ASSERT_EQ(*PeriodContaining(c, z, p.start - 1), *prev) << name;
      ASSERT_EQ(*PreviousPeriod(c, z, *next), p) << name;
      // Hour buckets: every UTC hour in exactly one period.
      ASSERT_EQ(next->first_hour(), p.end_hour()) << name;
      ASSERT_LT(p.first_hour(), p.end_hour()) << name;
      ASSERT_EQ(*PeriodContaining(c, z, p.first_hour()), p) << name;
      ASSERT_EQ(*PeriodContaining(c, z, p.end_hour() - 3600), p) << name;
    }
  }
}

// Every daily period of 1971-2036 in a set of zones with odd offsets and midnight transitions:
// consecutive, never empty, 22.5 to 25.5 hours long but for the days zones skipped.
TEST(BillingCyclePropertyTest, DailyWalkHasNoGapOrOverlap) {
  for (const char* name :
       {"Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "Australia/Lord_Howe",
        "America/Havana", "America/Sao_Paulo", "Pacific/Apia", "Pacific/Kiritimati", "Asia/Tehran",
        "Europe/London", "America/St_Johns", "Pacific/Chatham", "Antarctica/Troll"}) {
    const TimeZone z = Zone(name);
    Period p = Containing(kDaily, z, Utc("1971-01-02T12:00"));
    int64_t days = 0;
    while (p.end < Utc("2036-12-31T00:00")) {
      Result<Period> next = NextPeriod(kDaily, z, p);
      ASSERT_TRUE(next.ok()) << name << ": " << next.status().ToString();
      ASSERT_EQ(next->start, p.end) << name;
      ASSERT_LT(next->start, next->end) << name;
      ASSERT_GT(next->start_day, p.start_day) << name;
      const bool skipped = next->start_day != p.end_day;  // a day the zone left out
      if (!skipped) ASSERT_GE(next->end - next->start, 22 * 3600) << name << " " << next->start;
      ASSERT_LE(next->end - next->start, 26 * 3600) << name << " " << next->start;
      p = *next;
      ++days;
    }
    EXPECT_GT(days, 23000) << name;
  }
}

}  // namespace billing_cycle_test
}  // namespace meterd::engine::cycles
