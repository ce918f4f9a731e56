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
