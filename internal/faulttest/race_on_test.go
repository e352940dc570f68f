//go:build race

package faulttest

// raceEnabled: the suite runs under -race, so hookguard is built with it too.
const raceEnabled = true
