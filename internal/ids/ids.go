// Package ids parses and checks user and group IDs. The kernel's IDs
// are 32 bits, and (uid_t)-1 means "leave unchanged": a larger number
// given to chown or setresuid would wrap around, 4294967296 to root.
package ids

import (
	"fmt"
	"strconv"
)

// Max is the largest user or group ID, 2^32-2.
const Max = 1<<32 - 2

// Parse reads a decimal user or group ID from 0 to Max.
func Parse(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("ID %s is out of range (0 to %d)", s, Max)
		}
		return 0, fmt.Errorf("ID %q is not a number", s)
	}
	if n > Max {
		return 0, fmt.Errorf("ID %s is out of range (0 to %d)", s, Max)
	}
	return int(n), nil
}

// Check refuses an ID outside 0 to Max.
func Check(n int64) error {
	if n < 0 || n > Max {
		return fmt.Errorf("ID %d is out of range (0 to %d)", n, Max)
	}
	return nil
}

// IsNumeric tells whether s is written as a decimal number (of any
// size): such a user or group is an ID, never a name.
func IsNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
