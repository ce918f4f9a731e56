package human

import (
	"testing"
	"time"
)

func TestAgoAndSize(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0: "Less than a second ago", 30 * time.Second: "30 seconds ago", time.Minute: "About a minute ago",
		5 * time.Minute: "5 minutes ago", time.Hour: "About an hour ago", 30 * time.Hour: "30 hours ago",
		3 * 24 * time.Hour: "3 days ago", 21 * 24 * time.Hour: "3 weeks ago", 90 * 24 * time.Hour: "3 months ago",
		3 * 365 * 24 * time.Hour: "3 years ago",
	} {
		if got := AgoFrom(now.Add(-d), now); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
	if got := AgoFrom(time.Time{}, now); got != "N/A" {
		t.Errorf("zero time: %q", got)
	}
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1kB", 1982365: "1.98MB", 5e9: "5GB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                  now.Add(-10 * time.Minute),
		"1700000000":           time.Unix(1700000000, 0),
		"1700000000.5":         time.Unix(1700000000, 500000000),
		"2026-12-01T09:00:00Z": time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: got %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseTime("yesterday", now); err == nil {
		t.Errorf("yesterday parsed")
	}
}
