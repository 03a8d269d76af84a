//go:build race

package racedetect

// On: built with the race detector.
const On = true
