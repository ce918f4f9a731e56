package run

import (
	"crypto/rand"
	"math/big"
)

// RandomName makes a docker-style name such as "brave_turing".
func RandomName() string {
	adjectives := []string{"admiring", "agile", "bold", "brave", "busy", "calm", "clever", "crisp", "daring",
		"eager", "fair", "gentle", "happy", "jolly", "keen", "kind", "lucid", "merry", "nimble", "proud",
		"quiet", "quick", "sharp", "silly", "steady", "sunny", "swift", "tender", "vivid", "wise"}
	nouns := []string{"babbage", "bohr", "curie", "darwin", "dijkstra", "euler", "fermi", "gauss", "hopper",
		"hypatia", "kepler", "knuth", "lamport", "liskov", "lovelace", "meitner", "newton", "noether",
		"pascal", "ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak"}
	return pick(adjectives) + "_" + pick(nouns)
}

func pick(words []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	if err != nil {
		return words[0]
	}
	return words[n.Int64()]
}
